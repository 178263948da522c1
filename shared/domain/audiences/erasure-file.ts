/**
 * The identifiers of an erasure request, read on the partner's own machine: a CSV whose header
 * names email and/or phone columns, raw (hashed here by the partner's profile, each kind by its own
 * rules) or already hashed (`email_sha256`, `phone_sha256`), or values given one by one. Only the
 * digests leave this module. A value that cannot be read refuses the whole request, naming its row,
 * column and rule: an erasure must not half-happen because of a typo.
 */
import { parse } from 'csv-parse';
import { createIdentifierHasher, type IdentifierHasher } from '../identifiers/hash.ts';
import type { CountryCode } from '../identifiers/normalize.ts';
import { knownHeader } from '../lists/known-headers.ts';
import type { Profile } from '../model.ts';

export interface ErasureIdentifiers {
  email_sha256: string[];
  phone_sha256: string[];
}

export class ErasureFileError extends Error {
  override readonly name = 'ErasureFileError';
}

type Kind = 'email' | 'phone';
/** Problems named in one error, at most. */
const SHOWN = 10;

export interface ErasureHashing {
  profile: Profile;
  region?: CountryCode;
}

function hashersFor(options: ErasureHashing): Record<Kind, IdentifierHasher> {
  const common = {
    profile: options.profile,
    // uid2 partners upload base64; the others hex: the request carries what the members file does.
    encoding: options.profile === 'uid2' ? ('base64' as const) : ('hex' as const),
  };
  return {
    email: createIdentifierHasher({ ...common, kind: 'email' }),
    phone: createIdentifierHasher({
      ...common,
      kind: 'phone',
      ...(options.region ? { region: options.region } : {}),
    }),
  };
}

/** Collects digests per kind, deduplicated, with the problems found on the way. */
class Collector {
  private readonly seen: Record<Kind, Set<string>> = { email: new Set(), phone: new Set() };
  readonly problems: string[] = [];
  problemCount = 0;
  constructor(private readonly hashers: Record<Kind, IdentifierHasher>) {}

  add(kind: Kind, raw: string, where: string) {
    const outcome = this.hashers[kind].hash(raw);
    if (outcome.ok) this.seen[kind].add(outcome.encoded);
    else {
      this.problemCount++;
      if (this.problems.length < SHOWN) this.problems.push(`${where}: ${outcome.reason}`);
    }
  }

  result(): ErasureIdentifiers {
    if (this.problemCount > 0) {
      const more = this.problemCount - this.problems.length;
      throw new ErasureFileError(
        `${this.problemCount} identifier(s) could not be read, so nothing was sent: ${this.problems.join('; ')}${more > 0 ? `; and ${more} more` : ''}.`,
      );
    }
    return { email_sha256: [...this.seen.email], phone_sha256: [...this.seen.phone] };
  }
}

/** Identifiers given one by one (`--email`, `--phone`). */
export function erasureIdentifiersOf(
  values: { email?: readonly string[]; phone?: readonly string[] },
  options: ErasureHashing,
): ErasureIdentifiers {
  const collector = new Collector(hashersFor(options));
  for (const kind of ['email', 'phone'] as const) {
    (values[kind] ?? []).forEach((v, i) => {
      collector.add(kind, v, `--${kind} #${i + 1}`);
    });
  }
  return collector.result();
}

/** Reads an erasure file (rows numbered as the partner's editor shows them, the header being row 1). */
export async function readErasureFile(
  source: AsyncIterable<Uint8Array | string>,
  options: ErasureHashing,
): Promise<ErasureIdentifiers & { rows: number }> {
  const collector = new Collector(hashersFor(options));
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, trim: false });
  const feed = (async () => {
    try {
      for await (const chunk of source)
        if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
      parser.end();
    } catch (error) {
      parser.destroy(error as Error);
    }
  })();
  let columns: { index: number; kind: Kind; name: string }[] | undefined;
  let row = 0;
  for await (const record of parser as AsyncIterable<string[]>) {
    row++;
    if (!columns) {
      columns = [];
      record.forEach((cell, index) => {
        const known = knownHeader(cell);
        // `sha256` alone is an email, as in a members file.
        if (known)
          columns?.push({ index, kind: known.kind === 'phone' ? 'phone' : 'email', name: cell.trim() });
      });
      if (columns.length === 0) {
        throw new ErasureFileError(
          'The erasure file needs a header naming its identifier columns (email, phone, email_sha256 or phone_sha256); its first row names none.',
        );
      }
      continue;
    }
    for (const { index, kind, name } of columns) {
      const value = record[index] ?? '';
      if (value.trim() !== '') collector.add(kind, value, `row ${row}, column "${name}"`);
    }
  }
  await feed;
  if (!columns) throw new ErasureFileError('The erasure file is empty.');
  return { ...collector.result(), rows: row - 1 };
}

/** Splits identifiers into requests of at most `size` identifiers each. */
export function erasureBatches(ids: ErasureIdentifiers, size: number): ErasureIdentifiers[] {
  const all = [
    ...ids.email_sha256.map((v) => ['email_sha256', v] as const),
    ...ids.phone_sha256.map((v) => ['phone_sha256', v] as const),
  ];
  const batches: ErasureIdentifiers[] = [];
  for (let i = 0; i < all.length; i += size) {
    const batch: ErasureIdentifiers = { email_sha256: [], phone_sha256: [] };
    for (const [field, value] of all.slice(i, i + size)) batch[field].push(value);
    batches.push(batch);
  }
  return batches;
}
