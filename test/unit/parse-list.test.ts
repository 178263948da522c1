import { describe, expect, it } from 'vitest';
import { knownHeader } from '../../shared/domain/lists/known-headers.ts';
import {
  type Classify,
  type IdentifierColumn,
  isListFormatError,
  KNOWN_HEADERS,
  type ListFormatError,
  type ListRow,
  openList,
  type ParseListOptions,
  parseList,
  parseListBatches,
  pickColumn,
} from '../../shared/domain/lists/parse-list.ts';

/** Stands in for the real normalizer: trim + lowercase, must contain '@'. */
const classify: Classify = (raw) => {
  const value = raw.trim().toLowerCase();
  return value.includes('@')
    ? { ok: true, key: value, output: `h(${value})` }
    : { ok: false, reason: 'invalid' };
};

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

async function rows(
  source: Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>,
  options: Partial<ParseListOptions> = {},
): Promise<ListRow[]> {
  const out: ListRow[] = [];
  for await (const row of parseList(source, { classify, ...options })) out.push(row);
  return out;
}

const values = (list: ListRow[]) => list.map((row) => row.value);
const reasons = (list: ListRow[]) => list.map((row) => (row.outcome.ok ? 'ok' : row.outcome.reason));

async function formatError(promise: Promise<unknown>): Promise<ListFormatError> {
  try {
    await promise;
  } catch (error) {
    if (isListFormatError(error)) return error;
    throw error;
  }
  throw new Error('expected a ListFormatError');
}

/** Splits bytes into chunks of `size`. */
function chunked(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

describe('line mode', () => {
  it('keeps one row per input line, in order, empty lines included', async () => {
    const list = await rows([bytes('A@x.com\n\nnot-an-email\n  b@y.org  \n')]);
    expect(values(list)).toEqual(['A@x.com', '', 'not-an-email', '  b@y.org  ']);
    expect(reasons(list)).toEqual(['ok', 'empty', 'invalid', 'ok']);
    expect(list.map((row) => row.rowNumber)).toEqual([1, 2, 3, 4]);
    expect(list.map((row) => row.line)).toEqual([1, 2, 3, 4]);
    expect(list[0]?.outcome).toEqual({ ok: true, key: 'a@x.com', output: 'h(a@x.com)' });
    expect(list[0]?.fields).toBeNull();
  });

  it('handles CRLF, CR and LF, and a last line without a line break', async () => {
    const list = await rows([bytes('a@x.com\r\nb@x.com\rc@x.com\nd@x.com\r\n\r\ne@x.com')]);
    expect(values(list)).toEqual(['a@x.com', 'b@x.com', 'c@x.com', 'd@x.com', '', 'e@x.com']);
  });

  it('does not split a CRLF that straddles two chunks', async () => {
    const list = await rows([bytes('a@x.com\r'), bytes('\nb@x.com\r'), bytes('\r\n')]);
    expect(values(list)).toEqual(['a@x.com', 'b@x.com', '']);
  });

  it('a trailing line break does not add a row; a lone line break is one empty row', async () => {
    expect(values(await rows([bytes('a@x.com\n')]))).toEqual(['a@x.com']);
    expect(reasons(await rows([bytes('\n')]))).toEqual(['empty']);
    expect(await rows([bytes('')])).toEqual([]);
    expect(await rows([])).toEqual([]);
  });

  it('strips a UTF-8 byte order mark, even split across chunks, and from string sources', async () => {
    const data = bytes('\uFEFFa@x.com\nb@x.com\n');
    expect(values(await rows([data]))).toEqual(['a@x.com', 'b@x.com']);
    expect(values(await rows(chunked(data, 1)))).toEqual(['a@x.com', 'b@x.com']);
    expect(values(await rows(['\uFEFFa@x.com\n', 'b@x.com']))).toEqual(['a@x.com', 'b@x.com']);
  });

  it('decodes multi-byte characters split across chunks', async () => {
    const list = await rows(chunked(bytes('josé@exämple.com\n😀@x.com\n'), 1));
    expect(values(list)).toEqual(['josé@exämple.com', '😀@x.com']);
  });

  it('reads sync iterables and async iterables of strings and bytes', async () => {
    async function* source() {
      yield 'a@x.com\nb@';
      yield bytes('x.com\n');
    }
    expect(values(await rows(source()))).toEqual(['a@x.com', 'b@x.com']);
  });

  it('treats formula-looking values as plain data for the classifier to judge', async () => {
    const list = await rows([bytes('=HYPERLINK("http://evil")\n+1@x.com\n@SUM(A1)\n')]);
    expect(values(list)).toEqual(['=HYPERLINK("http://evil")', '+1@x.com', '@SUM(A1)']);
    expect(list[0]?.outcome.ok).toBe(false);
  });

  it('counts a 100 KB line as line-too-long and skips it without losing the next lines', async () => {
    const long = 'x'.repeat(100_000);
    const data = bytes(`a@x.com\n${long}@x.com\nb@x.com\n`);
    for (const size of [data.length, 4096, 1000, 7]) {
      const list = await rows(chunked(data, size));
      expect(reasons(list)).toEqual(['ok', 'line-too-long', 'ok']);
      expect(list[1]?.value).toBeNull();
      expect(list.map((row) => row.line)).toEqual([1, 2, 3]);
    }
  });

  it('measures the limit in UTF-8 bytes and honours maxLineBytes', async () => {
    const fits = `${'é'.repeat(2040)}@x.com`; // 4086 bytes
    const over = `${'é'.repeat(2050)}@x.com`; // 4106 bytes, 2056 characters
    expect(reasons(await rows([bytes(`${fits}\n${over}\n`)]))).toEqual(['ok', 'line-too-long']);
    expect(reasons(await rows([bytes('abcdefghij@x\nab@x\n')], { maxLineBytes: 8 }))).toEqual([
      'line-too-long',
      'ok',
    ]);
    expect(reasons(await rows([bytes('abcdefghij@x')], { maxLineBytes: 8 }))).toEqual(['line-too-long']);
  });

  it('mode "lines" never looks for a header', async () => {
    const { layout } = await openList([bytes('email\na@x.com\n')], { classify, mode: 'lines' });
    expect(layout.mode).toBe('lines');
    expect(values(await rows([bytes('email\na@x.com\n')], { mode: 'lines' }))).toEqual(['email', 'a@x.com']);
  });

  it('reports the line ending for faithful output', async () => {
    expect((await openList([bytes('a@x.com\r\nb@x.com')], { classify })).layout.lineEnding).toBe('\r\n');
    expect((await openList([bytes('a@x.com\r'), bytes('\nb')], { classify })).layout.lineEnding).toBe('\r\n');
    expect((await openList([bytes('a@x.com\nb')], { classify })).layout.lineEnding).toBe('\n');
  });
});

describe('CSV mode', () => {
  it('is detected from a known header name, case-insensitively, with BOM and spaces', async () => {
    for (const header of ['email', 'EMAIL', ' E-Mail ', '\uFEFFEmail_Address', '"Email"', 'name,Mobile,x']) {
      const { layout } = await openList([bytes(`${header}\r\na\r\n`)], { classify });
      expect(layout.mode, header).toBe('csv');
    }
    const { layout } = await openList([bytes('notes\na\n')], { classify });
    expect(layout.mode).toBe('lines');
  });

  it('refuses several columns with none known, listing them and the --column to use', async () => {
    const error = await formatError(rows([bytes('Name,Contact Mail Addr,Zip\nJane,jane@x.com,10001\n')]));
    expect(error.reason).toBe('no-identifier-column');
    expect(error.message).toContain('(columns: Name, Contact Mail Addr, Zip)');
    expect(error.message).toContain('--column "Contact Mail Addr"');
    const data = await formatError(rows([bytes('jane@example.com,Jane,Doe,10001\n')]));
    expect(data.reason).toBe('no-identifier-column');
    expect(data.message).toContain('add a header row');
    expect(data.message).not.toContain('jane');
    for (const d of [';', '\t', '|']) {
      const e = await formatError(rows([bytes(`a${d}b\n1${d}2\n`)]));
      expect(e.reason, JSON.stringify(d)).toBe('no-identifier-column');
    }
  });

  it('refuses a column of phones read as emails, and of emails read as phones, with a hint', async () => {
    const phones = ['+1 555 010 0001', '(555) 010-0002', '555.010.0003', '+44 20 7946 0004', '5550100005'];
    const asEmail = await formatError(rows([bytes(`${phones.join('\n')}\n`)], { kind: 'email' }));
    expect(asEmail.reason).toBe('wrong-kind');
    expect(asEmail.message).toContain('--kind phone');
    expect(asEmail.message).not.toContain('555');
    const emails = ['a@x.com', 'b@x.com', 'c@x.com', 'd@x.com', 'e@x.com'];
    const csv = `Phone\n${emails.join('\n')}\n`;
    const asPhone = await formatError(rows([bytes(csv)]));
    expect(asPhone.reason).toBe('wrong-kind');
    expect(asPhone.message).toContain('column "Phone" holds email addresses');
    // One real email among the first values: no verdict, the rows are judged one by one.
    const mixed = await rows([bytes(`${['a@x.com', ...phones].join('\n')}\n`)], { kind: 'email' });
    expect(mixed).toHaveLength(6);
  });

  it('reads a Customer Match row as one person: every identifier column, email first', async () => {
    const csv =
      'Phone,First Name,Email,Country,Zip\n+15550100001,Jane,jane@x.com,US,10001\n,Bob,bob@x.com,US,1\n+15550100003,Al,,US,2\n,,,US,3\n';
    const tag =
      (column: IdentifierColumn): Classify =>
      (raw) =>
        raw.includes('bad')
          ? { ok: false, reason: 'no-at-sign' }
          : { ok: true, key: `${column.kind}:${raw}`, output: raw.slice(0, 4) };
    const { layout, batches } = await openList([bytes(csv)], { classify, classifyAs: tag });
    expect(layout.columns.map((c) => [c.name, c.kind, c.index])).toEqual([
      ['Email', 'email', 2],
      ['Phone', 'phone', 0],
    ]);
    const list: ListRow[] = [];
    for await (const batch of batches) list.push(...batch);
    expect(list.map((r) => r.outcome)).toEqual([
      { ok: true, key: 'email:jane@x.com', output: 'e:jane,p:+155' },
      { ok: true, key: 'email:bob@x.com', output: 'e:bob@' },
      { ok: true, key: 'phone:+15550100003', output: 'p:+155' },
      { ok: false, reason: 'empty' },
    ]);
    expect(list[0]?.cells?.map((c) => c.ok)).toEqual([true, true]);
  });

  it('knows common export headers in several languages, in one table', () => {
    const email = [
      'Customer Email',
      'Primary Email',
      'Work Email',
      'Email 1',
      'Courriel',
      'E-Mail-Adresse',
      'correo electrónico',
    ];
    const phone = ['Phone Number', 'Mobile', 'Téléphone', 'Telefonnummer', 'Cell Phone', 'phone_2'];
    for (const h of email) expect(knownHeader(h), h).toEqual({ kind: 'email', hashed: false });
    for (const h of phone) expect(knownHeader(h), h).toEqual({ kind: 'phone', hashed: false });
    expect(knownHeader('email_sha256')).toEqual({ kind: 'email', hashed: true });
    expect(knownHeader('sha256')).toEqual({ kind: 'any', hashed: true });
    for (const h of ['First Name', 'Zip', 'Country', 'segment_id', 'notes'])
      expect(knownHeader(h), h).toBeUndefined();
  });

  it('parses quoted fields with delimiters, escaped quotes and line breaks', async () => {
    const csv = 'name,email,notes\n"Doe, Jane",jane@x.com,"said ""hi""\nthen left"\nBob,"bob@x.com",\n';
    const list = await rows([bytes(csv)]);
    expect(list.map((row) => row.fields)).toEqual([
      ['Doe, Jane', 'jane@x.com', 'said "hi"\nthen left'],
      ['Bob', 'bob@x.com', ''],
    ]);
    expect(values(list)).toEqual(['jane@x.com', 'bob@x.com']);
    expect(list.map((row) => row.rowNumber)).toEqual([1, 2]);
    expect(list.map((row) => row.line)).toEqual([2, 4]);
  });

  it('keeps CRLF inside quoted fields and handles CR-only files', async () => {
    const list = await rows([bytes('email,notes\r\na@x.com,"l1\r\nl2"\r\nb@x.com,x\r\n')]);
    expect(list.map((row) => row.fields)).toEqual([
      ['a@x.com', 'l1\r\nl2'],
      ['b@x.com', 'x'],
    ]);
    expect(list.map((row) => row.line)).toEqual([2, 4]);
    const cr = await rows([bytes('email\ra@x.com\rb@x.com\r')]);
    expect(values(cr)).toEqual(['a@x.com', 'b@x.com']);
  });

  it('picks the column for the requested kind among several identifier columns', async () => {
    const csv = 'id,Phone,Email,sha256\n1,+15551234567,a@x.com,abc\n';
    const pick = async (options: Partial<ParseListOptions>) => (await rows([bytes(csv)], options))[0]?.value;
    expect(await pick({ kind: 'email' })).toBe('a@x.com');
    expect(await pick({ kind: 'phone' })).toBe('+15551234567');
    expect(await pick({})).toBe('+15551234567'); // no kind: the first known column
    expect(await pick({ column: 'SHA256' })).toBe('abc');
    expect(await pick({ column: ' id ' })).toBe('1');
    const { layout } = await openList([bytes(csv)], { classify, kind: 'email' });
    expect(layout).toMatchObject({ mode: 'csv', header: ['id', 'Phone', 'Email', 'sha256'], columnIndex: 2 });
    expect(layout.column).toBe('Email');
  });

  it('prefers raw columns of the kind, then hashed ones, then bare digest columns', () => {
    expect(pickColumn(['sha256', 'hashed_email', 'email'], { kind: 'email' })).toBe(2);
    expect(pickColumn(['sha256', 'hashed_email'], { kind: 'email' })).toBe(1);
    expect(pickColumn(['sha256', 'segment_id'], { kind: 'email' })).toBe(0);
    expect(pickColumn(['sha256', 'segment_id'], {})).toBe(0);
    expect(KNOWN_HEADERS.em).toEqual({ kind: 'email', hashed: true });
  });

  it('--column forces CSV and picks by name even without a known header', async () => {
    const list = await rows([bytes('Customer,Contact\nJane,jane@x.com\n')], { column: 'contact' });
    expect(values(list)).toEqual(['jane@x.com']);
  });

  it('rejects an unknown column name with a typed error that lists the columns', async () => {
    const error = await formatError(rows([bytes('name,email\na,b@x.com\n')], { column: 'mail_addr' }));
    expect(error.reason).toBe('unknown-column');
    expect(error.code).toBe('invalid-input');
    expect(error.message).toContain('mail_addr');
    expect(error.message).toContain('name, email');
  });

  it('never echoes a headerless first line (personal data) in an error message', async () => {
    const error = await formatError(rows([bytes('jane.doe@x.com,+15551234567\n')], { column: 'email' }));
    expect(error.reason).toBe('unknown-column');
    expect(error.message).not.toContain('jane');
    expect(error.message).not.toContain('5551234567');
  });

  it('refuses a CSV without a column of the requested kind', async () => {
    const error = await formatError(rows([bytes('name,phone\na,1\n')], { kind: 'email' }));
    expect(error.reason).toBe('no-identifier-column');
    const forced = await formatError(rows([bytes('a,b\n1,2\n')], { mode: 'csv' }));
    expect(forced.reason).toBe('no-identifier-column');
  });

  it('detects ; tab and | delimiters from the header', async () => {
    for (const d of [';', '\t', '|']) {
      const list = await rows([bytes(`name${d}email\n"a${d}b"${d}a@x.com\n`)]);
      expect(list[0]?.fields, JSON.stringify(d)).toEqual([`a${d}b`, 'a@x.com']);
    }
    const { layout } = await openList([bytes('name;email\n')], { classify });
    expect(layout.delimiter).toBe(';');
  });

  it('turns bad quoting into malformed-csv rows and goes on', async () => {
    const csv = 'email,name\na@x.com,ok\nb@x.com,"bad"quote\nc@x.com,x"y\nd@x.com,fine\n';
    const list = await rows([bytes(csv)]);
    expect(reasons(list)).toEqual(['ok', 'malformed-csv', 'malformed-csv', 'ok']);
    expect(values(list)).toEqual(['a@x.com', null, null, 'd@x.com']);
    expect(list.map((row) => row.line)).toEqual([2, 3, 4, 5]);
  });

  it('counts short records, empty lines and overlong records', async () => {
    const long = 'y'.repeat(100_000);
    const csv = `name,email\nshort\n\n${long},a@x.com\n"${long}",b@x.com\nz,c@x.com\n`;
    for (const size of [csv.length, 4096, 333]) {
      const list = await rows(chunked(bytes(csv), size));
      expect(reasons(list)).toEqual(['malformed-csv', 'empty', 'line-too-long', 'line-too-long', 'ok']);
      expect(list.map((row) => row.line)).toEqual([2, 3, 4, 5, 6]);
    }
    const small = await rows([bytes('email\nabcdefghij@x.com\na@x.com\n')], { maxRecordBytes: 10 });
    expect(reasons(small)).toEqual(['line-too-long', 'ok']);
  });

  it('fails clearly on a quoted field that never closes across lines', async () => {
    const unclosed = `email,notes\na@x.com,"open\n${'b@x.com,x\n'.repeat(10_000)}`;
    const error = await formatError(rows(chunked(bytes(unclosed), 4096)));
    expect(error.reason).toBe('malformed-csv');
    expect(error.line).toBe(2);
    const atEnd = await formatError(rows([bytes('email,notes\na@x.com,"open\nb@x.com,x\n')]));
    expect(atEnd.reason).toBe('malformed-csv');
  });

  it('an unclosed quote on the last line alone is one malformed row', async () => {
    expect(reasons(await rows([bytes('email\na@x.com\n"b@x.com')]))).toEqual(['ok', 'malformed-csv']);
  });

  it('one record a line: a quoted line break is fatal at its line, however the input is chunked', async () => {
    const text = 'email,notes\na@x.com,"one, two"\nb@x.com,"three\nfour"\nc@x.com,x\n';
    // Allowed by default: the record spans two lines.
    expect(reasons(await rows([bytes(text)]))).toEqual(['ok', 'ok', 'ok']);
    for (const size of [1, 7, text.length]) {
      const error = await formatError(rows(chunked(bytes(text), size), { oneRecordPerLine: true }));
      expect(error.reason).toBe('malformed-csv');
      expect(error.line).toBe(3);
      expect(error.message).toContain('opened on line 3 holds a line break');
    }
    // A quoted delimiter on one line is still one field.
    const fine = await rows([bytes('email,notes\na@x.com,"one, two"\n')], { oneRecordPerLine: true });
    expect(fine[0]?.fields).toEqual(['a@x.com', 'one, two']);
  });

  it('an error of a piece of a file tells its line in the file (movedBy)', async () => {
    const error = await formatError(rows([bytes('email\na@x.com\n\u0000b@x.com\n')]));
    expect(error.line).toBe(3);
    const moved = error.movedBy(1_000);
    expect(moved).toMatchObject({ reason: error.reason, line: 1_003, code: 'invalid-input' });
    expect(moved.message).toBe(error.message.replace('line 3', 'line 1003'));
    expect(error.movedBy(0)).toBe(error);
  });

  it('a header-only CSV has a layout and no rows', async () => {
    const { layout, batches } = await openList([bytes('email,name\n')], { classify });
    expect(layout.header).toEqual(['email', 'name']);
    const all: ListRow[] = [];
    for await (const batch of batches) all.push(...batch);
    expect(all).toEqual([]);
  });
});

describe('hostile input', () => {
  it('rejects binary content (NUL bytes) naming the line', async () => {
    const error = await formatError(rows([bytes('a@x.com\nb@x.com\nc\0d\n')]));
    expect(error.reason).toBe('binary-content');
    expect(error.line).toBe(3);
    const zip = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, 0xff, 0x10]);
    expect((await formatError(rows([zip]))).reason).toBe('binary-content');
    expect((await formatError(rows(['a@x.com\n\0']))).reason).toBe('binary-content');
  });

  it('rejects UTF-16 with a clear error, whichever byte order, even split after one byte', async () => {
    const le = new Uint8Array([0xff, 0xfe, 0x61, 0x00, 0x40, 0x00]);
    const be = new Uint8Array([0xfe, 0xff, 0x00, 0x61, 0x00, 0x40]);
    for (const source of [[le], [be], [le.subarray(0, 1), le.subarray(1)]]) {
      const error = await formatError(rows(source));
      expect(error.reason).toBe('unsupported-encoding');
      expect(error.message).toContain('unsupported-encoding: UTF-16');
    }
  });

  it('rejects invalid UTF-8 naming the line, and a truncated sequence at the end', async () => {
    const latin1 = new Uint8Array([...bytes('a@x.com\nb@x.com\njos'), 0xe9, ...bytes('@x.com\n')]);
    const error = await formatError(rows([latin1]));
    expect(error.reason).toBe('invalid-encoding');
    expect(error.line).toBe(3);
    expect((await formatError(rows(chunked(latin1, 3)))).line).toBe(3);
    const truncated = new Uint8Array([...bytes('a@x.com\nb'), 0xc3]);
    expect((await formatError(rows([truncated]))).reason).toBe('invalid-encoding');
  });

  it('is a 400 domain error carrying no list content', async () => {
    const error = await formatError(rows([bytes('secret@x.com\n\0')]));
    expect(error.status).toBe(400);
    expect(error.message).not.toContain('secret');
  });
});

describe('scale', () => {
  it('streams 2 million rows with bounded memory', async () => {
    const total = 2_000_000;
    const perChunk = 4000;
    async function* source() {
      for (let start = 0; start < total; start += perChunk) {
        let text = '';
        for (let i = start; i < start + perChunk; i++) text += `u${i}@x.io\n`;
        yield encoder.encode(text);
      }
    }
    const trivial: Classify = (raw) => ({ ok: true, key: raw, output: raw });
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    let count = 0;
    let last = '';
    for await (const batch of parseListBatches(source(), { classify: trivial })) {
      count += batch.length;
      last = batch[batch.length - 1]?.value ?? last;
      const used = process.memoryUsage().heapUsed;
      if (used > peak) peak = used;
    }
    expect(count).toBe(total);
    expect(last).toBe(`u${total - 1}@x.io`);
    // Holding the rows would take several hundred MB; streaming stays around 20 MB.
    expect(peak - before).toBeLessThan(100 * 1024 * 1024);
  });
});
