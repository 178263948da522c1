import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashList } from '../../shared/domain/lists/hash-list.ts';
import {
  type Classify,
  isListFormatError,
  type ListRow,
  type ParseListOptions,
  parseList,
} from '../../shared/domain/lists/parse-list.ts';

const classify: Classify = (raw) => {
  const value = raw.trim().toLowerCase();
  return value.includes('@')
    ? { ok: true, key: value, output: `h(${value})` }
    : { ok: false, reason: 'invalid' };
};

const encoder = new TextEncoder();

type Outcome = { rows: ListRow[] } | { error: string; line: number | undefined };

async function read(chunks: Uint8Array[], options: Partial<ParseListOptions> = {}): Promise<Outcome> {
  const rows: ListRow[] = [];
  try {
    for await (const row of parseList(chunks, { classify, ...options })) rows.push(row);
    return { rows };
  } catch (error) {
    if (isListFormatError(error)) return { error: error.reason, line: error.line };
    throw error; // anything else is a crash: the property fails
  }
}

/** Cuts `data` at the given (arbitrary) positions. */
function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => (data.length === 0 ? 0 : cut % (data.length + 1))))].sort(
    (a, b) => a - b,
  );
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(data.subarray(from, point));
    from = point;
  }
  chunks.push(data.subarray(from));
  return chunks;
}

/** Text made of the pieces that make list parsing hard. */
const trickyText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '"',
        '""',
        ',',
        ';',
        '\t',
        '\n',
        '\r',
        '\r\n',
        'email',
        'Phone',
        'a@b.co',
        'X@Y.ORG',
        ' ',
        'é',
        '😀',
        '\uFEFF',
        '=HYPERLINK("x")',
      ),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 60 },
  )
  .map((parts) => parts.join(''));

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('parse-list properties', () => {
  it('chunk boundaries anywhere give the same rows (or the same error)', async () => {
    await fc.assert(
      fc.asyncProperty(
        trickyText,
        cuts,
        fc.constantFrom<Partial<ParseListOptions>>(
          {},
          { mode: 'lines' },
          { kind: 'email' },
          { maxLineBytes: 8 },
        ),
        async (text, at, options) => {
          const data = encoder.encode(text);
          const whole = await read([data], options);
          const pieces = await read(split(data, at), options);
          expect(pieces).toEqual(whole);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('chunking is invisible in CSV mode with small records and a long-line limit too', async () => {
    await fc.assert(
      fc.asyncProperty(trickyText, cuts, async (body, at) => {
        const data = encoder.encode(`email,name\n${body}`);
        const options = { maxRecordBytes: 12 };
        expect(await read(split(data, at), options)).toEqual(await read([data], options));
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes give rows or a typed ListFormatError, never a crash, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), cuts, async (data, at) => {
        const whole = await read([data]);
        expect(await read(split(data, at))).toEqual(whole);
      }),
      { numRuns: 400 },
    );
  });

  it('line mode keeps one row per line, in order', async () => {
    const line = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !/[\r\n\0\uFEFF]/.test(s));
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 30 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        cuts,
        async (lines, eol, at) => {
          const data = encoder.encode(lines.map((l) => l + eol).join(''));
          const outcome = await read(split(data, at), { mode: 'lines' });
          expect(outcome).toHaveProperty('rows');
          const rows = (outcome as { rows: ListRow[] }).rows;
          expect(rows.map((row) => row.value)).toEqual(lines);
          expect(rows.map((row) => row.line)).toEqual(lines.map((_, i) => i + 1));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('CSV fields written with RFC 4180 quoting read back exactly', async () => {
    const field = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !/[\0\uFEFF]/.test(s)),
      fc.constantFrom('"', 'a,b', 'x\ny', 'p\r\nq', '"quoted"', ' ', ''),
    );
    const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(field, field), { minLength: 1, maxLength: 20 }),
        fc.constantFrom('\n', '\r\n'),
        cuts,
        async (records, eol, at) => {
          const text = `email,name${eol}${records.map((r) => r.map(quote).join(',')).join(eol)}${eol}`;
          const outcome = await read(split(encoder.encode(text), at));
          expect(outcome).toHaveProperty('rows');
          const rows = (outcome as { rows: ListRow[] }).rows;
          // Two fields per record, so even an all-empty record keeps its comma and reads back.
          expect(rows.map((row) => row.fields)).toEqual(records);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hashList line mode writes exactly one output line per input line', async () => {
    const line = fc.string({ maxLength: 15 }).filter((s) => !/[\r\n\0\uFEFF]/.test(s));
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 30 }), async (lines) => {
        let out = '';
        for await (const chunk of hashList([lines.map((l) => `${l}\n`).join('')], {
          classify,
          mode: 'lines',
        })) {
          out += chunk;
        }
        const written = out === '' ? [] : out.slice(0, -1).split('\n');
        expect(written).toEqual(lines.map((l) => (l.includes('@') ? `h(${l.trim().toLowerCase()})` : '')));
      }),
      { numRuns: 200 },
    );
  });
});
