/**
 * Hashing a picked file in the page, with the same domain modules as the CLI and the service
 * (shared/domain: the streaming list parser, the profiles' normalization, SHA-256 by @noble/hashes).
 * Nothing here touches the network: raw identifiers stay in this tab; what comes out is one hash a
 * line (an advertiser list) or `sha256,segment_id` rows (a partner members file).
 */
import { createIdentifierHasher } from '../../shared/domain/identifiers/hash.ts';
import type { CountryCode } from '../../shared/domain/identifiers/normalize.ts';
import { createListSummary } from '../../shared/domain/lists/list-summary.ts';
import {
  type Classify,
  isListFormatError,
  KNOWN_HEADERS,
  type KnownHeader,
  type ListLayout,
  normalizeHeaderName,
  openList,
} from '../../shared/domain/lists/parse-list.ts';
import type { IdentifierKind, Profile } from '../../shared/domain/model.ts';
import type { ListSummary } from '../../shared/domain/result/result-schema.ts';

export interface HashOptions {
  profile: Profile;
  kind: IdentifierKind;
  region?: CountryCode | undefined;
  column?: string | undefined;
}

export interface DetectedColumn extends KnownHeader {
  name: string;
}

export interface HashedList {
  layout: ListLayout;
  summary: ListSummary;
  /** The known identifier columns of a CSV header (none in line mode). */
  columns: DetectedColumn[];
  /** The upload: one hash a line, an empty line where a row was invalid. */
  upload: Blob;
}

/** A list that cannot be read at all, with the reason code and words safe to show. */
export class UnreadableFile extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const FILE_PROBLEMS: Record<string, string> = {
  'unsupported-encoding':
    'The file is not UTF-8 (it looks like UTF-16). Save it as “CSV UTF-8” and pick it again.',
  'invalid-encoding': 'The file has bytes that are not UTF-8 text. Save it as “CSV UTF-8” and pick it again.',
  'binary-content':
    'This is not a text file (it holds binary data, like a spreadsheet or a zip). Export a CSV or a text file with one identifier a line.',
  'malformed-csv': 'The CSV quoting is broken (a quote is never closed). Fix the file and pick it again.',
  'unknown-column': 'The CSV has no column of that name. Pick one of the detected columns.',
  'no-identifier-column':
    'The CSV header has no email or phone column. Name the column “email” or “phone”, or use one identifier a line.',
};

async function* chunks(file: Blob, onProgress: (fraction: number) => void): AsyncGenerator<Uint8Array> {
  const reader = file.stream().getReader();
  let seen = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    seen += value.length;
    onProgress(seen / Math.max(1, file.size));
    yield value;
  }
}

/** The known identifier columns of the first line, if it is a CSV header. */
export async function detectColumns(file: Blob): Promise<DetectedColumn[]> {
  const head = await file.slice(0, 8192).text();
  const first = head.split(/\r?\n/, 1)[0] ?? '';
  const delimiter = [',', ';', '\t', '|'].find((d) => first.includes(d)) ?? ',';
  return first
    .split(delimiter)
    .map((cell) => cell.replace(/^"|"$/g, ''))
    .filter((cell) => Object.hasOwn(KNOWN_HEADERS, normalizeHeaderName(cell)))
    .map((cell) => ({ name: cell.trim(), ...(KNOWN_HEADERS[normalizeHeaderName(cell)] as KnownHeader) }));
}

function classifier(options: HashOptions): Classify {
  const hasher = createIdentifierHasher({
    profile: options.profile,
    kind: options.kind,
    region: options.region,
  });
  return (raw) => {
    const out = hasher.hash(raw);
    return out.ok ? { ok: true, key: out.encoded, output: out.encoded } : { ok: false, reason: out.reason };
  };
}

function unreadable(error: unknown): never {
  if (isListFormatError(error))
    throw new UnreadableFile(error.reason, FILE_PROBLEMS[error.reason] ?? 'The file cannot be read.');
  throw error;
}

/** An advertiser list: parsed, normalized and hashed here, counted for the preview. */
export async function hashListFile(
  file: Blob,
  options: HashOptions,
  onProgress: (fraction: number) => void = () => {},
): Promise<HashedList> {
  const columns = await detectColumns(file);
  const summary = createListSummary();
  const parts: string[] = [];
  try {
    const { layout, batches } = await openList(chunks(file, onProgress), {
      classify: classifier(options),
      kind: options.kind,
      ...(options.column ? { column: options.column } : {}),
    });
    for await (const batch of batches) {
      let text = '';
      for (const row of batch) {
        summary.add(row.outcome);
        text += row.outcome.ok ? `${row.outcome.output}\n` : '\n';
      }
      parts.push(text);
    }
    return {
      layout,
      summary: summary.snapshot(),
      columns: layout.mode === 'csv' ? columns : [],
      upload: new Blob(parts, { type: 'text/plain' }),
    };
  } catch (error) {
    unreadable(error);
  }
}

export interface HashedMembers {
  summary: ListSummary;
  /** The rows kept: `sha256,segment_id`, hashed here when the file held raw identifiers. */
  upload: Blob;
  /** The file held raw emails or phones (hashed here) rather than hashes. */
  wasRaw: boolean;
  segmentIds: string[];
}

/**
 * A partner members file: a CSV with an identifier column (email, phone, or already a hash) and a
 * `segment_id` column. Raw identifiers are hashed here with the partner's profile.
 */
export async function hashMembersFile(
  file: Blob,
  profile: Profile,
  onProgress: (fraction: number) => void = () => {},
): Promise<HashedMembers> {
  const columns = await detectColumns(file);
  const column = columns[0];
  if (!column)
    throw new UnreadableFile('no-identifier-column', FILE_PROBLEMS['no-identifier-column'] as string);
  const kind: IdentifierKind = column.kind === 'phone' ? 'phone' : 'email';
  const summary = createListSummary();
  const segmentIds = new Set<string>();
  const parts: string[] = ['sha256,segment_id\n'];
  try {
    const { layout, batches } = await openList(chunks(file, onProgress), {
      mode: 'csv',
      column: column.name,
      classify: classifier({ profile, kind }),
    });
    const segmentColumn = (layout.header ?? []).findIndex(
      (h) =>
        h
          .trim()
          .toLowerCase()
          .replace(/[^a-z]/g, '') === 'segmentid',
    );
    if (segmentColumn < 0)
      throw new UnreadableFile(
        'no-segment-column',
        'The file needs a segment_id column beside the identifier column.',
      );
    for await (const batch of batches) {
      let text = '';
      for (const row of batch) {
        summary.add(row.outcome);
        const segmentId = row.fields?.[segmentColumn]?.trim() ?? '';
        // Invalid rows are kept as an empty hash, so the ingest report's row numbers match the file.
        const hash = row.outcome.ok ? row.outcome.output : '';
        if (segmentId) segmentIds.add(segmentId);
        text += `${hash},${/^[A-Za-z0-9_.-]{1,64}$/.test(segmentId) ? segmentId : ''}\n`;
      }
      parts.push(text);
    }
  } catch (error) {
    if (error instanceof UnreadableFile) throw error;
    unreadable(error);
  }
  return {
    summary: summary.snapshot(),
    upload: new Blob(parts, { type: 'text/csv' }),
    wasRaw: !column.hashed,
    segmentIds: [...segmentIds].sort(),
  };
}
