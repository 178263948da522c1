/**
 * The match result as the console reads it: only what GET /v1/matches/{id} releases, read
 * tolerantly (the privacy block and new top-level figures are shown generically, so a change of
 * mechanism or a new field shows up without a console release).
 */
import { labelOf } from './format.ts';

export interface ReleasedSegment {
  segmentId: string;
  name: string;
  matched: number | null;
  suppressed: boolean;
  reason?: string;
  share: number | null;
  affinity: number | null;
}

export interface ReleasedResult {
  list: {
    rows: number;
    valid: number;
    invalid: number;
    invalidByReason: Record<string, number>;
    duplicates: number;
    distinct: number;
  };
  matched: number | null;
  matchedSuppressedReason?: string;
  segments: ReleasedSegment[];
  privacy: Record<string, unknown>;
  partner: { partnerId: string; profile: string };
  generatedAt: string;
  [other: string]: unknown;
}

export interface MatchView {
  matchId: string;
  listId: string;
  partnerId: string;
  status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  minSegmentSize: number;
  progress: { phase: string; percent: number; shardsDone: number; shardsTotal: number };
  code?: string;
  detail?: string;
  result?: ReleasedResult;
  createdAt: string;
  updatedAt: string;
}

export interface Entry {
  label: string;
  value: string;
}

function flatten(value: unknown, path: string, out: Entry[]): void {
  if (value === null || value === undefined) out.push({ label: labelOf(path), value: '—' });
  else if (Array.isArray(value)) out.push({ label: labelOf(path), value: value.map(String).join(', ') });
  else if (typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) flatten(inner, path ? `${path}.${key}` : key, out);
  } else if (typeof value === 'number')
    out.push({ label: labelOf(path), value: value.toLocaleString('en-US') });
  else out.push({ label: labelOf(path), value: String(value) });
}

/** The privacy block as label/value pairs, whatever its shape (nested objects flattened). */
export function privacyEntries(privacy: Record<string, unknown>): Entry[] {
  const out: Entry[] = [];
  flatten(privacy, '', out);
  return out;
}

/** The budget left as released (any `...Left` figure of the privacy block's budget), or null. */
export function budgetLeft(privacy: Record<string, unknown>): string | null {
  const budget = privacy.budget;
  if (!budget || typeof budget !== 'object') return null;
  const lefts = Object.entries(budget).filter(([key, v]) => /left$/i.test(key) && typeof v === 'number');
  return lefts.length
    ? lefts
        .map(([key, v]) => `${(v as number).toLocaleString('en-US')} (${labelOf(key).toLowerCase()})`)
        .join(', ')
    : null;
}

const KNOWN_TOP = new Set([
  'list',
  'matched',
  'matchedSuppressedReason',
  'segments',
  'privacy',
  'partner',
  'generatedAt',
]);

/** Top-level figures the console has no dedicated place for (a match rate...), as label/value. */
export function otherFigures(result: ReleasedResult): Entry[] {
  const out: Entry[] = [];
  for (const [key, value] of Object.entries(result)) {
    if (KNOWN_TOP.has(key)) continue;
    if (typeof value === 'number')
      out.push({
        label: labelOf(key),
        value:
          /rate|share/i.test(key) && value <= 1
            ? `${(value * 100).toFixed(1)} %`
            : value.toLocaleString('en-US'),
      });
    else if (typeof value === 'string') out.push({ label: labelOf(key), value });
  }
  return out;
}
