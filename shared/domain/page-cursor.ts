/**
 * The opaque page cursor of a tenant's listing: the base64url of the last sort key read
 * (`{kind}#{id}`). The partition is never in it (it is always the caller's own), so a cursor can
 * only move within the caller's records. A cursor the server did not issue (not canonical
 * base64url, or not a sort key of that listing's kind) is the client's mistake: `invalid-cursor`.
 */
import { DomainError } from './errors.ts';

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function encodeCursor(sortKey: string): string {
  return Buffer.from(sortKey, 'utf8').toString('base64url');
}

/** The sort key a cursor of this kind's listing carries; throws `invalid-cursor` otherwise. */
export function decodeCursor(cursor: string, kind: string): string {
  const sortKey = Buffer.from(cursor, 'base64url').toString('utf8');
  const [prefix, id, ...rest] = sortKey.split('#');
  const valid =
    encodeCursor(sortKey) === cursor &&
    prefix === kind &&
    rest.length === 0 &&
    id !== undefined &&
    ID.test(id);
  if (!valid) {
    throw new DomainError(
      'invalid-cursor',
      'The cursor is not one this listing issued: pass the nextCursor of the previous page, or none for the first.',
    );
  }
  return sortKey;
}
