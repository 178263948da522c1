/**
 * Loading a catalog version's membership filter for a match shard. A list shard holds the people
 * of one range of primary digests, but their identifiers' keyed values (what the filter is built
 * and partitioned on) are spread over every part, so a shard may need any part: it loads them one
 * by one within a memory budget, and a part beyond the budget (or missing) answers "maybe", which
 * only costs the read the filter would have saved. Results never depend on the filter.
 */
import { FILTER_PARTS, filterPartOf, MembershipFilter } from '../domain/audiences/membership-filter.ts';
import type { AudienceSnapshot, FilterRef } from '../domain/model.ts';
import type { ObjectStore } from '../domain/ports.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';

/** What one match shard may hold of a filter: 12 bits a key, so 128 MiB covers ~89 M identifiers. */
export const FILTER_BUDGET_BYTES = 128 * 1024 * 1024;

export interface LoadedFilter {
  mayHold(key: string): boolean;
  /** Keys asked, and of them the ones the filter ruled out (reads saved). */
  readonly asked: number;
  readonly skipped: number;
  /** Parts loaded of the filter's parts, and their bytes. */
  readonly partsLoaded: number;
  readonly bytes: number;
}

async function readBytes(objects: ObjectStore, bucket: string, key: string): Promise<Uint8Array | undefined> {
  if (!(await objects.exists(bucket, key))) return undefined;
  const chunks: Uint8Array[] = [];
  for await (const chunk of objects.read(bucket, key)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function loadMembershipFilter(
  objects: ObjectStore,
  bucket: string,
  snapshot: AudienceSnapshot & { filter?: FilterRef },
  budgetBytes = FILTER_BUDGET_BYTES,
): Promise<LoadedFilter | undefined> {
  const ref = snapshot.filter;
  // A filter of another key id cannot answer for this snapshot's keyed values.
  if (!ref || ref.keyId !== snapshot.keyId || ref.parts !== FILTER_PARTS) return undefined;
  const parts: (MembershipFilter | undefined)[] = [];
  let bytes = 0;
  for (let part = 0; part < ref.parts; part++) {
    const data = await readBytes(
      objects,
      bucket,
      OBJECT_KEYS.filterPart(snapshot.partnerId, ref.keyId, ref.id, part),
    );
    if (!data || bytes + data.byteLength > budgetBytes) {
      parts.push(undefined);
      continue;
    }
    parts.push(MembershipFilter.from(data));
    bytes += data.byteLength;
  }
  const loaded = {
    asked: 0,
    skipped: 0,
    partsLoaded: parts.filter(Boolean).length,
    bytes,
    mayHold(key: string): boolean {
      loaded.asked++;
      const part = parts[filterPartOf(key)];
      if (!part || part.mayHold(key)) return true;
      loaded.skipped++;
      return false;
    },
  };
  return loaded;
}
