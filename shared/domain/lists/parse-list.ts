/**
 * Streaming list parsing: one identifier per line, or a CSV with a header row. Used by the CLI
 * (`onboard hash`), server-side list hashing and partner ingest.
 *
 * The input is never held whole: bytes are decoded chunk by chunk (strict UTF-8), framed into lines
 * or CSV records, and handed out in batches of rows. Every buffer is bounded by the line/record
 * limit, so a multi-gigabyte list or a hostile 100 MB line costs the same memory as a small one.
 *
 * Identifier handling is injected (`Classify`): this module knows nothing about normalization or
 * hashing, it only decides what the identifier cell of each row is and asks the classifier about it.
 *
 * No `node:` imports: this runs in the browser console too.
 */
import { DomainError } from '../errors.ts';
import { IDENTIFIER_KINDS, type IdentifierKind } from '../model.ts';
import { createKindGuard, type KindGuard } from './kind-guard.ts';
import { type KnownHeader, knownHeader } from './known-headers.ts';
import { personLine } from './person-line.ts';

// ---------------------------------------------------------------------------------------------
// Contracts

/** What the classifier says about one identifier. */
export type ClassifyOutcome =
  /** `key`: the dedup key (e.g. the hex digest); `output`: what gets written (e.g. the hash). */
  { ok: true; key: string; output: string } | { ok: false; reason: string };

/** Normalizes/validates/hashes one raw identifier. Must not throw on bad input: return a reason. */
export type Classify = (raw: string) => ClassifyOutcome;

export type ListMode = 'lines' | 'csv';

/** Reasons this module gives on its own (the classifier adds its own). */
export const ROW_REASONS = {
  /** An empty (or whitespace-only) line or identifier cell. */
  empty: 'empty',
  /** A line (line mode) or record (CSV mode) over the byte limit: skipped without being buffered. */
  lineTooLong: 'line-too-long',
  /** A CSV record csv-parse rejects (bad quoting), or one too short to have the identifier column. */
  malformedCsv: 'malformed-csv',
} as const;

export { KNOWN_HEADERS, type KnownHeader } from './known-headers.ts';

/** One identifier column of a CSV, with the kind its values are read as. */
export interface IdentifierColumn {
  index: number;
  /** The header cell as read. */
  name: string;
  kind: IdentifierKind;
  /** The column holds digests rather than raw identifiers. */
  hashed: boolean;
}

/** How the list was read; known before the first row. */
export interface ListLayout {
  mode: ListMode;
  /** CSV field delimiter (`,` `;` tab or `|`); `,` in line mode. */
  delimiter: string;
  /** CSV header cells as read; null in line mode (or for an empty CSV). */
  header: readonly string[] | null;
  /** CSV: index of the identifier column in `header`; 0 in line mode. */
  columnIndex: number;
  /** CSV: the identifier column's header cell; null in line mode. */
  column: string | null;
  /**
   * With `classifyAs`: every identifier column read, primary kind first (IDENTIFIER_KINDS order,
   * then header order). Otherwise the one column (CSV) or none (line mode).
   */
  columns: readonly IdentifierColumn[];
  /** The input's line ending (CRLF if the first line ends with one, else LF), for faithful output. */
  lineEnding: '\n' | '\r\n';
}

export interface ListRow {
  /** 1-based data row (a CSV header is not a data row). In line mode it equals `line`. */
  rowNumber: number;
  /** 1-based physical line where the row starts (the header counts as a line). */
  line: number;
  /**
   * CSV: every field of the record, for re-emission. Null in line mode, and for CSV rows that could
   * not be read as fields (empty line, too long, malformed quoting).
   */
  fields: readonly string[] | null;
  /** The identifier as read (the line, or the identifier cell); null when it could not be read. */
  value: string | null;
  /**
   * With `classifyAs`: the row as one person. `key` is its primary identifier's key (the first
   * valid one in `layout.columns` order) and `output` its upload form (`e:<hash>,p:<hash>`).
   */
  outcome: ClassifyOutcome;
  /** With `classifyAs` in CSV mode: the outcome of each of `layout.columns`, in that order. */
  cells?: readonly ClassifyOutcome[];
}

export interface ParseListOptions {
  /** Classifies the identifier of a line (line mode) or of the one identifier column (CSV). */
  classify: Classify;
  /**
   * Reads a CSV row as a person: every recognised identifier column (or the `column` given, or
   * those of `kind`) is classified with the classifier of its kind. Line mode still uses `classify`.
   */
  classifyAs?: (column: IdentifierColumn) => Classify;
  /** Default `auto`: CSV when the first line has a known header name (or `column` is given). */
  mode?: 'auto' | ListMode;
  /** CSV identifier column by header name (case-insensitive, trimmed). Implies CSV mode. */
  column?: string;
  /** Which identifier kind to pick among known CSV columns; default: the first known column. */
  kind?: IdentifierKind;
  /**
   * The kind of a line in line mode (default: `kind`). When either is set, a list whose first
   * values are plainly of another kind is refused (`wrong-kind`).
   */
  lineKind?: IdentifierKind;
  /** CSV delimiter; default detected from the header line among `,` `;` tab `|`. */
  delimiter?: string;
  /** Line mode: longest line in UTF-8 bytes (default 4096); longer lines are skipped and counted. */
  maxLineBytes?: number;
  /**
   * CSV mode: longest record in UTF-8 bytes (default 65536; a record may span lines inside quotes).
   * A quoted field still open at a line break past this limit is an unclosed quote: fatal.
   */
  maxRecordBytes?: number;
  /**
   * Line mode only: the input is a later, line-aligned piece of a list whose first piece was read
   * before (by another worker). It is read as the rest of that list: one identifier a line with the
   * list's line ending, lines numbered from `firstLine`, no byte order mark sniffed or dropped, no
   * kind guard (the first piece has it). The rows and errors are those of the same lines read whole.
   */
  continuation?: { firstLine: number; lineEnding: '\n' | '\r\n' };
  /**
   * CSV mode: every record is one line, so a file can be cut at any line break and its pieces read
   * apart (a partner's members file). A line break inside quotes is then fatal (`malformed-csv`).
   */
  oneRecordPerLine?: boolean;
}

export type ListFormatErrorReason =
  | 'unsupported-encoding'
  | 'invalid-encoding'
  | 'binary-content'
  | 'malformed-csv'
  | 'unknown-column'
  | 'no-identifier-column'
  | 'wrong-kind';

/**
 * The list as a whole cannot be read. A `DomainError` (`invalid-input`, 400) whose `reason` says
 * why; the message names the line but never contains list content.
 */
export class ListFormatError extends DomainError {
  readonly reason: ListFormatErrorReason;
  /** 1-based physical line, when the problem is at a place. */
  readonly line: number | undefined;

  constructor(reason: ListFormatErrorReason, detail: string, line?: number) {
    super('invalid-input', `${reason}: ${detail}`);
    this.reason = reason;
    this.line = line;
  }

  /**
   * The same error in a piece of a file that starts `lines` lines further down (its own first data
   * line numbered as the file's line 2): its line, and the line its message names, moved by that.
   */
  movedBy(lines: number): ListFormatError {
    if (this.line === undefined || lines === 0) return this;
    const line = this.line + lines;
    const detail = this.detail.slice(this.reason.length + 2).replace(`line ${this.line}`, `line ${line}`);
    return new ListFormatError(this.reason, detail, line);
  }
}

export function isListFormatError(error: unknown): error is ListFormatError {
  return error instanceof ListFormatError;
}

export const DEFAULT_MAX_LINE_BYTES = 4096;
export const DEFAULT_MAX_RECORD_BYTES = 65536;

// ---------------------------------------------------------------------------------------------
// Public API

export interface OpenedList {
  layout: ListLayout;
  /** The rows in batches (one batch per input chunk): the fast path. Iterate once. */
  batches: AsyncGenerator<ListRow[], void, undefined>;
}

/**
 * Reads just enough of `source` to know the layout (mode, delimiter, CSV header and column), then
 * hands out the rows. Throws `ListFormatError` (from here or while iterating) for unreadable input.
 */
export async function openList(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ParseListOptions,
): Promise<OpenedList> {
  const events = readList(source, options);
  const first = await events.next();
  if (first.done || Array.isArray(first.value)) throw new Error('parse-list: layout must come first');
  return { layout: first.value, batches: events as AsyncGenerator<ListRow[], void, undefined> };
}

/** The rows in batches (one batch per input chunk). */
export async function* parseListBatches(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ParseListOptions,
): AsyncGenerator<ListRow[], ListLayout | undefined, undefined> {
  const { layout, batches } = await openList(source, options);
  yield* batches;
  return layout;
}

/** The rows one by one (convenient; `parseListBatches` is faster for millions of rows). */
export async function* parseList(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ParseListOptions,
): AsyncGenerator<ListRow, void, undefined> {
  for await (const batch of parseListBatches(source, options)) yield* batch;
}

/** The header cell as compared against `KNOWN_HEADERS` and `--column`. */
export function normalizeHeaderName(cell: string): string {
  return cell
    .replace(/^\uFEFF/, '')
    .trim()
    .toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Reading: decode, detect, frame

const LF = 10;
const CR = 13;
const QUOTE = 34;
const CANDIDATE_DELIMITERS = [',', ';', '\t', '|'] as const;

const EMPTY: ClassifyOutcome = Object.freeze({ ok: false, reason: ROW_REASONS.empty });
const TOO_LONG: ClassifyOutcome = Object.freeze({ ok: false, reason: ROW_REASONS.lineTooLong });
const MALFORMED: ClassifyOutcome = Object.freeze({ ok: false, reason: ROW_REASONS.malformedCsv });

interface Framer {
  /** Layout, once known (line mode: at once; CSV: once the header record is read). */
  readonly layout: ListLayout | null;
  /** 1-based physical line of the next character to be framed. */
  readonly currentLine: number;
  /** The last text ended with a CR (its LF, if it starts the next text, is the same line break). */
  readonly afterCR: boolean;
  push(text: string, out: ListRow[]): void;
  end(out: ListRow[]): void;
}

async function* readList(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ParseListOptions,
): AsyncGenerator<ListLayout | ListRow[], void, undefined> {
  const maxLineBytes = positive(options.maxLineBytes, DEFAULT_MAX_LINE_BYTES, 'maxLineBytes');
  const maxRecordBytes = positive(options.maxRecordBytes, DEFAULT_MAX_RECORD_BYTES, 'maxRecordBytes');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let decoderHasBytes = false;
  const continuation = options.continuation;
  // first bytes, held until the UTF-16 sniff (not in a continuation: its start is not the file's)
  let head: Uint8Array | null = continuation ? null : new Uint8Array(0);
  let atStart = continuation === undefined;
  let pending = ''; // text read before the layout is known
  let framer: Framer | null = continuation
    ? new LineFramer(
        options.classify,
        maxLineBytes,
        continuation.lineEnding,
        undefined,
        continuation.firstLine - 1,
      )
    : null;
  let layoutSent = false;
  // CSV rows are parsed synchronously while framing: have the parser ready before the first chunk.
  if (options.mode !== 'lines') await loadCsvParser();

  const currentLine = (): number => (framer ? framer.currentLine : 1 + countBreaks(pending));

  /** Whether the text framed so far ends with a CR (so a leading LF is not a new line). */
  const afterCR = (): boolean => (framer ? framer.afterCR : pending.endsWith('\r'));
  let previousTail = new Uint8Array(0); // last bytes of the previous chunk, to locate a split bad sequence

  const invalidEncoding = (bytes: Uint8Array): ListFormatError => {
    const line = currentLine() + countByteBreaks(bytes, firstInvalidUtf8(previousTail, bytes), afterCR());
    return new ListFormatError(
      'invalid-encoding',
      `line ${line} is not valid UTF-8; save the list as UTF-8 (CSV UTF-8) and retry`,
      line,
    );
  };

  /** Strict UTF-8 decoding; whichever comes first in the stream, a bad sequence or a NUL, is reported. */
  const decode = (bytes: Uint8Array, final: boolean): string => {
    const nul = bytes.indexOf(0);
    if (nul !== -1) {
      try {
        decoder.decode(bytes.subarray(0, nul), { stream: true });
      } catch {
        throw invalidEncoding(bytes);
      }
      const line = currentLine() + countByteBreaks(bytes, nul, afterCR());
      throw new ListFormatError(
        'binary-content',
        `NUL byte on line ${line}: this looks like a binary file (e.g. .xlsx or .zip); expected UTF-8 text`,
        line,
      );
    }
    let text: string;
    try {
      text = decoder.decode(bytes, { stream: !final });
    } catch {
      throw invalidEncoding(bytes);
    }
    decoderHasBytes = !final;
    previousTail =
      bytes.length >= 3 ? bytes.slice(bytes.length - 3) : concatBytes(previousTail, bytes).slice(-3);
    return text;
  };

  const newFramer = (firstText: string, final: boolean): Framer | null => {
    const detected = detectLayout(firstText, final, options);
    if (detected === null) return null;
    if (detected.mode === 'lines') {
      const lineKind = options.lineKind ?? options.kind;
      const guard = lineKind === undefined ? undefined : createKindGuard(lineKind, null);
      return new LineFramer(options.classify, maxLineBytes, detected.lineEnding, guard);
    }
    return new CsvFramer(options, detected.delimiter, detected.lineEnding, maxRecordBytes);
  };

  function* feed(text: string, final: boolean): Generator<ListLayout | ListRow[], void, undefined> {
    if (atStart && text.length > 0) {
      atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (framer === null) {
      pending += text;
      framer = newFramer(pending, final);
      if (framer === null) return;
      text = pending;
      pending = '';
    }
    const out: ListRow[] = [];
    if (text.length > 0) framer.push(text, out);
    if (final) framer.end(out);
    if (!layoutSent && framer.layout !== null) {
      layoutSent = true;
      yield framer.layout;
    }
    if (out.length > 0) yield out;
  }

  for await (const chunk of source) {
    let text: string;
    if (typeof chunk === 'string') {
      if (head !== null) head = null; // a string source has no byte order mark to sniff
      text = decoderHasBytes ? decode(new Uint8Array(0), true) + chunk : chunk;
      const nul = text.indexOf('\0');
      if (nul !== -1) {
        const before = text.slice(0, nul);
        const line = currentLine() + countBreaks(before) - (afterCR() && before.charCodeAt(0) === LF ? 1 : 0);
        throw new ListFormatError('binary-content', `NUL character on line ${line}: expected text`, line);
      }
    } else {
      let bytes = chunk;
      if (head !== null) {
        bytes = concatBytes(head, bytes);
        if (bytes.length < 2) {
          head = bytes;
          continue;
        }
        head = null;
        rejectUtf16(bytes);
      }
      text = decode(bytes, false);
    }
    if (text.length > 0) yield* feed(text, false);
  }
  let tail = '';
  if (head !== null && head.length > 0) {
    rejectUtf16(head);
    tail = decode(head, true);
  } else if (decoderHasBytes) {
    tail = decode(new Uint8Array(0), true);
  }
  yield* feed(tail, true);
  if (!layoutSent) {
    // Only when the input is empty: nothing was framed, so no header could be read either.
    const forcedCsv = options.mode === 'csv' || options.column !== undefined;
    yield {
      mode: forcedCsv ? 'csv' : 'lines',
      delimiter: options.delimiter ?? ',',
      header: null,
      columnIndex: 0,
      column: null,
      columns: [],
      lineEnding: '\n',
    };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function rejectUtf16(bytes: Uint8Array): void {
  const a = bytes[0];
  const b = bytes[1];
  if ((a === 0xff && b === 0xfe) || (a === 0xfe && b === 0xff)) {
    throw new ListFormatError(
      'unsupported-encoding',
      'UTF-16 (byte order mark found); save the list as UTF-8 (CSV UTF-8) and retry',
      1,
    );
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Line breaks (LF, CR, CRLF counted once) in a string. */
function countBreaks(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) n++;
  }
  return n;
}

/** Line breaks in `bytes[0, end)`; a leading LF completing a CR from the previous chunk is not one. */
function countByteBreaks(bytes: Uint8Array, end: number, afterCR: boolean): number {
  let n = 0;
  for (let i = 0; i < end; i++) {
    const c = bytes[i];
    if (c === LF) {
      if (!(i === 0 && afterCR)) n++;
    } else if (c === CR && bytes[i + 1] !== LF) n++;
  }
  return n;
}

/**
 * Offset in `bytes` of the first byte where strict UTF-8 decoding fails (error path only: a binary
 * search over prefixes). `before` (the previous chunk's last bytes) lets a sequence that started there
 * be judged whole; a failure inside it counts as offset 0.
 */
function firstInvalidUtf8(before: Uint8Array, bytes: Uint8Array): number {
  const all = concatBytes(before, bytes);
  // Continuation bytes at the very start belong to a character that is already decoded.
  let start = 0;
  while (start < before.length && ((all[start] as number) & 0xc0) === 0x80) start++;
  let lo = start; // all[start, lo) decodes (an incomplete tail allowed)
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(all.subarray(start, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  return Math.max(0, Math.min(lo, all.length) - before.length);
}

/** UTF-8 length of a string without encoding it. */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** A string's UTF-8 length exceeds `max` (cheap for short strings: at most 3 bytes per UTF-16 unit). */
function overLimit(text: string, max: number): boolean {
  return text.length > max || (text.length * 3 > max && utf8Length(text) > max);
}

function classifyValue(classify: Classify, value: string): ClassifyOutcome {
  if (value.length === 0 || value.trim().length === 0) return EMPTY;
  return classify(value);
}

interface DetectedLayout {
  mode: ListMode;
  delimiter: string;
  lineEnding: '\n' | '\r\n';
}

/**
 * Decides the mode from the first line, or returns null when more text is needed. The first line is
 * split naively (quote-unaware) per candidate delimiter: enough to spot a header name.
 */
function detectLayout(text: string, final: boolean, options: ParseListOptions): DetectedLayout | null {
  const lf = text.indexOf('\n');
  const cr = text.indexOf('\r');
  const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
  let lineEnding: '\n' | '\r\n' = '\n';
  if (end === -1) {
    // No line break yet: wait, unless the line is already too long to be a header.
    if (!final && text.length <= Math.max(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, 1024)) return null;
  } else if (text.charCodeAt(end) === CR) {
    if (end + 1 >= text.length && !final) return null; // is it CRLF? wait for the next character
    if (text.charCodeAt(end + 1) === LF) lineEnding = '\r\n';
  }
  // Only the first `limit` characters are looked at, however the text was chunked.
  const limit = Math.max(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, 1024);
  const firstLine = text.slice(0, end === -1 ? limit : Math.min(end, limit));
  if (options.mode === 'lines') return { mode: 'lines', delimiter: ',', lineEnding };
  const wanted = options.column === undefined ? undefined : normalizeHeaderName(options.column);
  const candidates = options.delimiter === undefined ? CANDIDATE_DELIMITERS : [options.delimiter];
  let delimiter: string | undefined;
  const unquote = (cell: string) => cell.replace(/^\s*"|"\s*$/g, '');
  for (const d of candidates) {
    const cells = firstLine.split(d).map(unquote);
    const hit = cells.some((cell) =>
      wanted === undefined ? knownHeader(cell) !== undefined : normalizeHeaderName(cell) === wanted,
    );
    if (hit) {
      delimiter = d;
      break;
    }
  }
  const forced = options.mode === 'csv' || options.column !== undefined;
  if (delimiter === undefined && !forced) {
    // No silent guess: a first line of several columns, none of them known, is a CSV whose
    // identifier column we cannot name (or a headerless one): reading it as one identifier a line
    // would hash whole rows.
    for (const d of candidates) {
      const cells = firstLine.split(d).map(unquote);
      if (cells.length > 1) throw unnamedColumns(cells, d);
    }
    return { mode: 'lines', delimiter: ',', lineEnding };
  }
  return { mode: 'csv', delimiter: delimiter ?? options.delimiter ?? ',', lineEnding };
}

function unnamedColumns(cells: readonly string[], delimiter: string): ListFormatError {
  const shown = describe(cells);
  const what = delimiter === '\t' ? 'tab' : `"${delimiter}"`;
  if (shown === '') {
    return new ListFormatError(
      'no-identifier-column',
      `the first line has ${cells.length} ${what}-separated fields and looks like data, not a header: add a header row and name the identifier column with --column`,
      1,
    );
  }
  const candidate =
    cells.find((c) => /mail|courriel|correo/i.test(c)) ?? cells.find((c) => /phone|tel|mobil|cell/i.test(c));
  return new ListFormatError(
    'no-identifier-column',
    `the header has ${cells.length} columns and none is a known identifier column${shown}; name the one to hash with --column "${candidate ?? cells[0]?.trim() ?? ''}"${candidate ? '' : ' (and --kind phone for phone numbers)'}`,
    1,
  );
}

// ---------------------------------------------------------------------------------------------
// Line mode: a plain splitter (LF, CRLF, CR), one row per line, empty lines included.

class LineFramer implements Framer {
  readonly layout: ListLayout;
  private lineNo = 0; // lines completed
  private carry = '';
  private hasCarry = false;
  private skipping = false;
  private pendingCR = false;

  constructor(
    private readonly classify: Classify,
    private readonly maxBytes: number,
    lineEnding: '\n' | '\r\n',
    private readonly guard: KindGuard | undefined,
    linesBefore = 0,
  ) {
    this.lineNo = linesBefore;
    this.layout = {
      mode: 'lines',
      delimiter: ',',
      header: null,
      columnIndex: 0,
      column: null,
      columns: [],
      lineEnding,
    };
  }

  get currentLine(): number {
    return this.lineNo + 1;
  }

  get afterCR(): boolean {
    return this.pendingCR;
  }

  push(text: string, out: ListRow[]): void {
    const n = text.length;
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (text.charCodeAt(0) === LF) i = 1;
    }
    // indexOf positions are cached so a file without CRs is not rescanned for one per line.
    let nextLF = text.indexOf('\n', i);
    let nextCR = text.indexOf('\r', i);
    while (i < n) {
      if (nextLF !== -1 && nextLF < i) nextLF = text.indexOf('\n', i);
      if (nextCR !== -1 && nextCR < i) nextCR = text.indexOf('\r', i);
      let end: number;
      if (nextLF === -1) {
        if (nextCR === -1) break;
        end = nextCR;
      } else {
        end = nextCR === -1 || nextLF < nextCR ? nextLF : nextCR;
      }
      const part = text.slice(i, end);
      if (text.charCodeAt(end) === CR) {
        if (end + 1 === n) this.pendingCR = true;
        i = text.charCodeAt(end + 1) === LF ? end + 2 : end + 1;
      } else {
        i = end + 1;
      }
      if (this.hasCarry) {
        const line = this.carry + part;
        this.carry = '';
        this.hasCarry = false;
        this.emit(line, out);
      } else {
        this.emit(part, out);
      }
    }
    if (i < n) this.keep(text.slice(i));
  }

  end(out: ListRow[]): void {
    if (this.hasCarry || this.skipping) {
      const line = this.carry;
      this.carry = '';
      this.hasCarry = false;
      this.emit(line, out);
    }
  }

  /** Holds the start of an unfinished line, or drops it once it is over the limit. */
  private keep(rest: string): void {
    if (this.skipping) return;
    this.carry = this.hasCarry ? this.carry + rest : rest;
    this.hasCarry = true;
    if (this.carry.length > this.maxBytes) {
      this.carry = '';
      this.skipping = true;
    }
  }

  private emit(line: string, out: ListRow[]): void {
    const number = ++this.lineNo;
    if (this.skipping || overLimit(line, this.maxBytes)) {
      this.skipping = false;
      out.push({ rowNumber: number, line: number, fields: null, value: null, outcome: TOO_LONG });
      return;
    }
    const hint = this.guard?.(line);
    if (hint !== undefined) throw new ListFormatError('wrong-kind', hint, number);
    out.push({
      rowNumber: number,
      line: number,
      fields: null,
      value: line,
      outcome: classifyValue(this.classify, line),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// CSV mode: records are framed here (quote-aware, so a long record is skipped without being
// buffered and every row knows its line), then parsed into fields by csv-parse in batches.

type CsvParseSync = (input: string, options: Record<string, unknown>) => string[][];

let csvParseSync: CsvParseSync | undefined;
let csvParseLoading: Promise<CsvParseSync> | undefined;

/**
 * csv-parse's Node build relies on the global `Buffer` (3x faster); its browser build carries a
 * polyfill. Load the one that runs here, once.
 */
export function loadCsvParser(): Promise<CsvParseSync> {
  csvParseLoading ??= (
    typeof (globalThis as { Buffer?: unknown }).Buffer === 'function'
      ? import('csv-parse/sync')
      : import('csv-parse/browser/esm/sync')
  ).then((module) => {
    csvParseSync = module.parse as unknown as CsvParseSync;
    return csvParseSync;
  });
  return csvParseLoading;
}

/** Framer states (plain numbers: the hot loop compares small integers). */
const CsvState = {
  FieldStart: 0,
  Unquoted: 1,
  Quoted: 2,
  /** Inside a quoted field, just after a quote: an escaped quote, the closing quote, or an error. */
  QuoteInQuoted: 3,
} as const;
type CsvState = (typeof CsvState)[keyof typeof CsvState];

/** A framed record waiting for field parsing. */
interface PendingRecord {
  /** Record text without its terminator; null when skipped as too long. */
  text: string | null;
  line: number;
}

class CsvFramer implements Framer {
  layout: ListLayout | null = null;
  private pendingCR = false;
  private readonly delimiterCode: number;
  private readonly csvOptions: Record<string, unknown>;
  private state: CsvState = CsvState.FieldStart;
  private line = 1; // physical line of the next character
  private recordLine = 1;
  private carry = '';
  private skipping = false;
  private multiline = false;
  private prevCR = false; // inside quotes: the previous character was a CR
  private rowNumber = 0;
  private columnIndex = 0;
  private columns: readonly IdentifierColumn[] = [];
  private cellClassifiers: { column: IdentifierColumn; classify: Classify }[] | null = null;
  private guards: { index: number; guard: KindGuard }[] = [];
  private readonly batch: PendingRecord[] = [];

  constructor(
    private readonly options: ParseListOptions,
    private readonly delimiter: string,
    private readonly lineEnding: '\n' | '\r\n',
    private readonly maxBytes: number,
  ) {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new RangeError('delimiter must be one character other than a quote or a line break');
    }
    this.delimiterCode = delimiter.charCodeAt(0);
    this.csvOptions = {
      delimiter,
      record_delimiter: '\n',
      quote: '"',
      escape: '"',
      bom: false,
      relax_column_count: true,
      relax_quotes: false,
      skip_empty_lines: false,
      trim: false,
    };
  }

  get currentLine(): number {
    return this.line;
  }

  get afterCR(): boolean {
    return this.pendingCR || (this.state === CsvState.Quoted && this.prevCR);
  }

  push(text: string, out: ListRow[]): void {
    const n = text.length;
    const delim = this.delimiterCode;
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (text.charCodeAt(0) === LF) i = 1;
    }
    let segStart = i;
    let state: CsvState = this.state;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (state === CsvState.Quoted) {
        if (c === QUOTE) state = CsvState.QuoteInQuoted;
        else if (c === LF || c === CR) this.quotedBreak(c);
        else this.prevCR = false;
        continue;
      }
      if (state === CsvState.QuoteInQuoted) {
        if (c === QUOTE) {
          state = CsvState.Quoted; // "" is an escaped quote
          this.prevCR = false;
          continue;
        }
        if (c === delim) {
          state = CsvState.FieldStart;
          continue;
        }
        if (c !== LF && c !== CR) {
          // `"a"b`: csv-parse rejects the record. Framing goes on as if the quote had closed the
          // field, so the damage stays within this record instead of swallowing the lines after it.
          state = CsvState.Unquoted;
          continue;
        }
        // The closing quote ends the record: fall through.
      }
      if (c === LF || c === CR) {
        const part = text.slice(segStart, i);
        if (c === CR) {
          if (i + 1 === n) this.pendingCR = true;
          else if (text.charCodeAt(i + 1) === LF) i++;
        }
        state = CsvState.FieldStart;
        this.endRecord(part);
        segStart = i + 1;
        continue;
      }
      if (c === delim) state = CsvState.FieldStart;
      else if (state === CsvState.FieldStart) state = c === QUOTE ? CsvState.Quoted : CsvState.Unquoted;
      // A quote inside an unquoted field is data to the framer; csv-parse rejects the record.
    }
    this.state = state;
    if (segStart < n) this.keep(text.slice(segStart));
    this.flush(out);
  }

  end(out: ListRow[]): void {
    const open = this.state === CsvState.Quoted;
    if (this.carry.length > 0 || this.skipping || this.state !== CsvState.FieldStart) {
      if (open && this.multiline) this.unclosedQuote();
      this.state = CsvState.FieldStart;
      this.endRecord('');
    }
    this.flush(out);
  }

  private quotedBreak(c: number): void {
    if (this.options.oneRecordPerLine) {
      throw new ListFormatError(
        'malformed-csv',
        `a quoted field opened on line ${this.recordLine} holds a line break; this file must hold one record a line`,
        this.recordLine,
      );
    }
    if (!(c === LF && this.prevCR)) this.line++;
    this.prevCR = c === CR;
    this.multiline = true;
    if (this.skipping) this.unclosedQuote();
  }

  private unclosedQuote(): never {
    throw new ListFormatError(
      'malformed-csv',
      `a quoted field opened on line ${this.recordLine} is not closed (record over ${this.maxBytes} bytes or at the end of the input)`,
      this.recordLine,
    );
  }

  private keep(rest: string): void {
    if (this.skipping) return;
    this.carry += rest;
    if (this.carry.length > this.maxBytes) {
      if (this.multiline) this.unclosedQuote();
      this.carry = '';
      this.skipping = true;
    }
  }

  private endRecord(part: string): void {
    let text: string | null = null;
    if (!this.skipping) {
      text = this.carry.length > 0 ? this.carry + part : part;
      if (overLimit(text, this.maxBytes)) {
        // Over the limit with a line break inside quotes: an unclosed quote, however it was chunked.
        if (this.multiline) this.unclosedQuote();
        text = null;
      }
    }
    this.batch.push({ text, line: this.recordLine });
    this.carry = '';
    this.skipping = false;
    this.multiline = false;
    this.prevCR = false;
    this.line++;
    this.recordLine = this.line;
  }

  /** Turns the framed records into rows: one csv-parse call per batch, per record on error. */
  private flush(out: ListRow[]): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    const parse = csvParseSync;
    if (parse === undefined) throw new Error('parse-list: csv-parse not loaded');
    let start = 0;
    if (this.layout === null) {
      this.readHeader(batch[0] as PendingRecord, parse);
      start = 1;
    }
    const texts: string[] = [];
    for (let k = start; k < batch.length; k++) {
      const text = (batch[k] as PendingRecord).text;
      if (text !== null && text.length > 0) texts.push(text);
    }
    let parsed: string[][] | null = null;
    if (texts.length > 0) {
      try {
        parsed = parse(texts.join('\n'), this.csvOptions);
        if (parsed.length !== texts.length) parsed = null;
      } catch {
        parsed = null;
      }
    }
    let next = 0;
    for (let k = start; k < batch.length; k++) {
      const { text, line } = batch[k] as PendingRecord;
      const rowNumber = ++this.rowNumber;
      if (text === null) {
        out.push({ rowNumber, line, fields: null, value: null, outcome: TOO_LONG });
        continue;
      }
      if (text.length === 0) {
        out.push({ rowNumber, line, fields: null, value: null, outcome: EMPTY });
        continue;
      }
      const fields = parsed !== null ? (parsed[next++] as string[]) : parseOne(parse, text, this.csvOptions);
      const value = fields?.[this.columnIndex];
      if (fields === null || value === undefined) {
        out.push({ rowNumber, line, fields: null, value: null, outcome: MALFORMED });
        continue;
      }
      this.guardRow(fields, line);
      if (this.cellClassifiers === null) {
        out.push({ rowNumber, line, fields, value, outcome: classifyValue(this.options.classify, value) });
        continue;
      }
      const cells = this.cellClassifiers.map(({ column, classify }) => {
        const cell = fields[column.index];
        return cell === undefined ? EMPTY : classifyValue(classify, cell);
      });
      out.push({ rowNumber, line, fields, value, outcome: personOutcome(cells, this.columns), cells });
    }
    batch.length = 0;
  }

  private readHeader(record: PendingRecord, parse: CsvParseSync): void {
    const header = record.text === null ? null : parseOne(parse, record.text, this.csvOptions);
    if (header === null) {
      throw new ListFormatError(
        'malformed-csv',
        `the header on line ${record.line} cannot be read as CSV`,
        record.line,
      );
    }
    const columns = this.options.classifyAs
      ? pickColumns(header, this.options)
      : [columnOf(header, pickColumn(header, this.options), this.options.kind)];
    const columnIndex = (columns[0] as IdentifierColumn).index;
    this.columnIndex = columnIndex;
    this.columns = columns;
    const classifyAs = this.options.classifyAs;
    this.cellClassifiers = classifyAs
      ? columns.map((column) => ({ column, classify: classifyAs(column) }))
      : null;
    this.guards = columns
      .filter((c) => !c.hashed)
      .map((c) => ({ index: c.index, guard: createKindGuard(c.kind, safeName(c.name)) }));
    this.layout = {
      mode: 'csv',
      delimiter: this.delimiter,
      header,
      columnIndex,
      column: header[columnIndex] ?? null,
      columns,
      lineEnding: this.lineEnding,
    };
  }

  private guardRow(fields: readonly string[], line: number): void {
    for (const { index, guard } of this.guards) {
      const cell = fields[index];
      const hint = cell === undefined ? undefined : guard(cell);
      if (hint !== undefined) throw new ListFormatError('wrong-kind', hint, line);
    }
  }
}

function parseOne(parse: CsvParseSync, text: string, options: Record<string, unknown>): string[] | null {
  try {
    const records = parse(text, options);
    return records.length === 1 ? (records[0] as string[]) : null;
  } catch {
    return null;
  }
}

/** The identifier column: by name, else the first known column of the requested kind. */
export function pickColumn(
  header: readonly string[],
  options: Pick<ParseListOptions, 'column' | 'kind'>,
): number {
  const names = header.map(normalizeHeaderName);
  if (options.column !== undefined) {
    const wanted = normalizeHeaderName(options.column);
    const index = names.indexOf(wanted);
    if (index === -1) {
      throw new ListFormatError(
        'unknown-column',
        `no column named "${safeName(options.column)}"${describe(header)}`,
        1,
      );
    }
    return index;
  }
  const kind = options.kind;
  const ranks = (info: KnownHeader): number => {
    if (kind === undefined) return 0;
    if (info.kind === kind) return info.hashed ? 1 : 0;
    return info.kind === 'any' ? 2 : -1;
  };
  let best = -1;
  let bestRank = 3;
  header.forEach((cell, index) => {
    const info = knownHeader(cell);
    if (info === undefined) return;
    const rank = ranks(info);
    if (rank >= 0 && rank < bestRank) {
      best = index;
      bestRank = rank;
    }
  });
  if (best === -1) {
    throw new ListFormatError(
      'no-identifier-column',
      `the header has no ${kind ?? 'identifier'} column${describe(header)}; name one with --column`,
      1,
    );
  }
  return best;
}

/** Header cells for an error message, unless they look like personal data (a headerless file). */
function describe(header: readonly string[]): string {
  if (header.some((cell) => cell !== safeName(cell))) return '';
  return ` (columns: ${header.slice(0, 20).join(', ')}${header.length > 20 ? ', ...' : ''})`;
}

/** A name fit for an error message: nothing that could be an email, a phone or a hash. */
function safeName(name: string): string {
  if (name.length > 40 || name.includes('@') || /\d{5}/.test(name)) return '<redacted>';
  return name;
}

/** The identifier column at `index`, its kind read from a known header (else `kind`, else email). */
function columnOf(
  header: readonly string[],
  index: number,
  kind: IdentifierKind | undefined,
): IdentifierColumn {
  const name = header[index] ?? '';
  const info = knownHeader(name);
  const known = info && info.kind !== 'any' ? info.kind : undefined;
  return { index, name, kind: known ?? kind ?? 'email', hashed: info?.hashed ?? false };
}

/**
 * The identifier columns of a person row: the one named by `column`, else every known column of
 * `kind` (when given) or of any kind. Primary kind first (IDENTIFIER_KINDS order), then header
 * order. A bare digest column (`sha256`) reads as `kind`, else as email.
 */
export function pickColumns(
  header: readonly string[],
  options: Pick<ParseListOptions, 'column' | 'kind'>,
): IdentifierColumn[] {
  if (options.column !== undefined) return [columnOf(header, pickColumn(header, options), options.kind)];
  const columns: IdentifierColumn[] = [];
  header.forEach((cell, index) => {
    const info = knownHeader(cell);
    if (info === undefined) return;
    const kind = info.kind === 'any' ? (options.kind ?? 'email') : info.kind;
    if (options.kind !== undefined && kind !== options.kind) return;
    columns.push({ index, name: cell, kind, hashed: info.hashed });
  });
  if (columns.length === 0) {
    throw new ListFormatError(
      'no-identifier-column',
      `the header has no ${options.kind ?? 'identifier'} column${describe(header)}; name one with --column`,
      1,
    );
  }
  const rank = (kind: IdentifierKind) => IDENTIFIER_KINDS.indexOf(kind);
  return columns.sort((a, b) => rank(a.kind) - rank(b.kind) || a.index - b.index);
}

/**
 * A row read as one person: ok when at least one identifier is valid. Its key is the first valid
 * identifier's (the primary, columns being in kind order) and its output the upload form.
 */
function personOutcome(
  cells: readonly ClassifyOutcome[],
  columns: readonly IdentifierColumn[],
): ClassifyOutcome {
  let key: string | undefined;
  const ids: { kind: IdentifierKind; hash: string }[] = [];
  let reason: string | undefined;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i] as ClassifyOutcome;
    if (cell.ok) {
      key ??= cell.key;
      ids.push({ kind: (columns[i] as IdentifierColumn).kind, hash: cell.output });
    } else if (cell.reason !== ROW_REASONS.empty) reason ??= cell.reason;
  }
  if (key === undefined) return reason === undefined ? EMPTY : { ok: false, reason };
  return { ok: true, key, output: personLine(ids) };
}
