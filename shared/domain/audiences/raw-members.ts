/**
 * A partner's raw export turned into the members file the service ingests, on the partner's own
 * machine: every raw email and phone column (named as CRMs, ESPs and ad platforms name them, see
 * known-headers.ts) is normalized by its kind's rules for the partner's profile and hashed; the
 * output is `email_sha256,phone_sha256,segment_id`, one row per input row, in order, so the ingest
 * report's row numbers point at the partner's own file. An invalid identifier becomes an empty
 * cell (the ingest rejects a row with no identifier, by rule); raw values never leave this module.
 */
import { createIdentifierHasher, type IdentifierHasher } from '../identifiers/hash.ts';
import type { CountryCode } from '../identifiers/normalize.ts';
import { isUsableSegmentId } from '../jobs.ts';
import { csvRecords } from '../lists/csv-records.ts';
import { headerKey, knownHeader } from '../lists/known-headers.ts';
import type { Profile } from '../model.ts';

export const MEMBERS_HEADER = 'email_sha256,phone_sha256,segment_id';

export interface RawMembersSummary {
  rows: number;
  /** Identifiers hashed, by kind. */
  hashed: { email: number; phone: number };
  /** Identifiers that were present but invalid (left empty), by kind. */
  invalid: { email: number; phone: number };
}

export class RawMembersError extends Error {
  override readonly name = 'RawMembersError';
}

/** A header's cells for a message; a cell that looks like an identifier (a headerless file) is never echoed. */
function describeColumns(header: readonly string[]): string {
  return header
    .map((c) =>
      /@|\d[\d\s().-]{5,}\d/.test(c) ? '(a value, not a column name)' : JSON.stringify(c.slice(0, 40)),
    )
    .join(', ');
}

/** Whether a header row names at least one raw identifier column (so the file needs hashing). */
export function holdsRawIdentifiers(header: readonly string[]): boolean {
  return header.some((cell) => {
    const known = knownHeader(cell);
    return known !== undefined && !known.hashed;
  });
}

/**
 * Hashes a raw members export. The header must name a segment column (`segment_id`, `segment`)
 * and at least one raw email or phone column; several columns of one kind are allowed (the first
 * non-empty valid one is the person's identifier of that kind).
 */
export async function* hashRawMembers(
  source: AsyncIterable<Uint8Array | string>,
  options: { profile: Profile; region?: CountryCode },
  summary: RawMembersSummary = { rows: 0, hashed: { email: 0, phone: 0 }, invalid: { email: 0, phone: 0 } },
): AsyncGenerator<string> {
  const hashers: Record<'email' | 'phone', IdentifierHasher> = {
    email: createIdentifierHasher({ profile: options.profile, kind: 'email', encoding: 'hex' }),
    phone: createIdentifierHasher({
      profile: options.profile,
      kind: 'phone',
      encoding: 'hex',
      ...(options.region ? { region: options.region } : {}),
    }),
  };
  let columns: { index: number; kind: 'email' | 'phone' }[] | undefined;
  let segmentIndex = -1;
  yield `${MEMBERS_HEADER}\n`;
  for await (const record of csvRecords(source)) {
    if (!columns) {
      columns = [];
      record.forEach((cell, index) => {
        const known = knownHeader(cell);
        if (known && !known.hashed && known.kind !== 'any') columns?.push({ index, kind: known.kind });
        if (
          segmentIndex < 0 &&
          ['segment id', 'segment', 'segmentid', 'audience id'].includes(headerKey(cell))
        )
          segmentIndex = index;
      });
      if (segmentIndex < 0)
        throw new RawMembersError(
          `The members file needs a segment column (segment_id) beside its identifier columns; its columns are: ${describeColumns(record)}.`,
        );
      if (columns.length === 0)
        throw new RawMembersError(
          `The members file has no raw email or phone column; its columns are: ${describeColumns(record)}.`,
        );
      continue;
    }
    summary.rows++;
    const out: Record<'email' | 'phone', string> = { email: '', phone: '' };
    for (const { index, kind } of columns) {
      const raw = record[index] ?? '';
      if (out[kind] !== '' || raw.trim() === '') continue;
      const hashed = hashers[kind].hash(raw);
      if (hashed.ok) {
        out[kind] = hashed.encoded;
        summary.hashed[kind]++;
      } else summary.invalid[kind]++;
    }
    const segment = (record[segmentIndex] ?? '').trim();
    // A segment id is an id, never free text: anything else goes as empty (rejected by rule).
    yield `${out.email},${out.phone},${isUsableSegmentId(segment) ? segment : ''}\n`;
  }
  if (!columns) throw new RawMembersError('The members file is empty.');
}
