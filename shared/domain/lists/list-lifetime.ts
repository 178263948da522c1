/**
 * How long a list can be matched. Its upload (hashed by the advertiser, or hashed here from a raw
 * one) lives in the uploads bucket, whose lifecycle deletes objects a fixed number of days after
 * they were written. Every list object is written at or after the list's creation, so it exists
 * at least until creation plus that many days; from then on the list reads EXPIRED (never READY
 * over a deleted object) and a match on it is refused with `list-expired`. FAILED stays FAILED.
 */
import type { ListRecord, ListStatus } from '../jobs.ts';

/** A list's status as the API shows it: the stored status, or EXPIRED once past its lifetime. */
export type ListState = ListStatus | 'EXPIRED';

export function listExpiresAt(list: Pick<ListRecord, 'createdAt'>, lifetimeDays: number): Date {
  return new Date(Date.parse(list.createdAt) + lifetimeDays * 86_400_000);
}

export function listStateAt(
  list: Pick<ListRecord, 'createdAt' | 'status'>,
  now: Date,
  lifetimeDays: number,
): ListState {
  if (list.status === 'FAILED') return 'FAILED';
  return now.getTime() >= listExpiresAt(list, lifetimeDays).getTime() ? 'EXPIRED' : list.status;
}
