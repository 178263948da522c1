import { describe, expect, it } from 'vitest';
import { type HashListOptions, hashList } from '../../shared/domain/lists/hash-list.ts';
import { createListSummary, DistinctKeys, type ListSummary } from '../../shared/domain/lists/list-summary.ts';
import type { Classify, ListLayout } from '../../shared/domain/lists/parse-list.ts';

/** Stands in for the real hasher: trim + lowercase, must contain '@'; the "hash" is visible. */
const classify: Classify = (raw) => {
  const value = raw.trim().toLowerCase();
  return value.includes('@')
    ? { ok: true, key: value, output: `h(${value})` }
    : { ok: false, reason: 'invalid' };
};

const encoder = new TextEncoder();

async function run(
  input: string | Uint8Array[],
  options: Partial<HashListOptions> = {},
): Promise<{ text: string; chunks: string[]; summary: ListSummary }> {
  const source = typeof input === 'string' ? [encoder.encode(input)] : input;
  const generator = hashList(source, { classify, ...options });
  const chunks: string[] = [];
  for (;;) {
    const next = await generator.next();
    if (next.done) return { text: chunks.join(''), chunks, summary: next.value };
    chunks.push(next.value);
  }
}

describe('hashList, line mode', () => {
  it('writes one output line per input line, in order, empty where invalid', async () => {
    const { text, summary } = await run('A@x.com\n\nnope\n b@x.com\na@x.com');
    expect(text).toBe('h(a@x.com)\n\n\nh(b@x.com)\nh(a@x.com)\n');
    expect(summary).toEqual({
      rows: 5,
      valid: 3,
      invalid: 2,
      invalidByReason: { empty: 1, invalid: 1 },
      duplicates: 1,
      distinct: 2,
    });
  });

  it('keeps CRLF line endings', async () => {
    expect((await run('a@x.com\r\nb@x.com\r\n')).text).toBe('h(a@x.com)\r\nh(b@x.com)\r\n');
  });

  it('writes an empty line for an overlong line', async () => {
    const { text, summary } = await run(`a@x.com\n${'z'.repeat(100_000)}\nb@x.com\n`);
    expect(text).toBe('h(a@x.com)\n\nh(b@x.com)\n');
    expect(summary.invalidByReason).toEqual({ 'line-too-long': 1 });
  });

  it('batches output into large chunks', async () => {
    let input = '';
    for (let i = 0; i < 50_000; i++) input += `user${i}@x.com\n`;
    const { text, chunks, summary } = await run(input);
    expect(summary.rows).toBe(50_000);
    expect(text.split('\n')).toHaveLength(50_001);
    expect(chunks.length).toBeLessThan(25);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBeGreaterThanOrEqual(65_536);
  });

  it('outputs nothing for empty input', async () => {
    const { text, summary } = await run('');
    expect(text).toBe('');
    expect(summary.rows).toBe(0);
  });
});

describe('hashList, CSV mode', () => {
  it('re-emits the CSV with the identifier column replaced, quoting where needed', async () => {
    const input = 'Name,Email,Notes\r\n"Doe, Jane",Jane@x.com,"said ""hi"""\r\nBob,not-an-email,plain\r\n';
    const { text, summary } = await run(input);
    expect(text).toBe('Name,Email,Notes\r\n"Doe, Jane",h(jane@x.com),"said ""hi"""\r\nBob,,plain\r\n');
    expect(summary).toMatchObject({ rows: 2, valid: 1, invalid: 1, invalidByReason: { invalid: 1 } });
  });

  it('keeps embedded line breaks and the delimiter', async () => {
    const { text } = await run('id;email;note\n1;a@x.com;"two\nlines"\n2;b@x.com;"a;b"\n');
    expect(text).toBe('id;email;note\n1;h(a@x.com);"two\nlines"\n2;h(b@x.com);"a;b"\n');
  });

  it('replaces only the chosen column among several identifier columns', async () => {
    const input = 'email,phone\na@x.com,+1555\n';
    expect((await run(input, { kind: 'phone' })).text).toBe('email,phone\na@x.com,\n');
    expect((await run(input, { column: 'EMAIL' })).text).toBe('email,phone\nh(a@x.com),+1555\n');
  });

  it('never echoes a record it could not read: a row of empty fields instead', async () => {
    const input = 'name,email\n"bad"quote,secret@x.com\n\nshort-row\nok,b@x.com\n';
    const { text, summary } = await run(input);
    expect(text).toBe('name,email\n,\n\n,\nok,h(b@x.com)\n');
    expect(text).not.toContain('secret');
    expect(summary.invalidByReason).toEqual({ empty: 1, 'malformed-csv': 2 });
  });

  it('writes the header of a header-only CSV and reports the layout', async () => {
    let seen: ListLayout | undefined;
    const { text } = await run('email,name\n', { onLayout: (layout) => (seen = layout) });
    expect(text).toBe('email,name\n');
    expect(seen).toMatchObject({ mode: 'csv', columnIndex: 0, column: 'email' });
  });

  it('fills a caller-supplied summary while streaming', async () => {
    const summary = createListSummary();
    const generator = hashList([encoder.encode('a@x.com\na@x.com\nb\n')], { classify, summary });
    for await (const _chunk of generator) {
      // drained
    }
    expect(summary.snapshot()).toMatchObject({ rows: 3, valid: 2, invalid: 1, duplicates: 1, distinct: 1 });
  });
});

describe('list summary', () => {
  it('counts rows, valid, invalid by reason, duplicates and distinct', () => {
    const summary = createListSummary();
    summary.add({ ok: true, key: 'k1', output: 'o' });
    summary.add({ ok: true, key: 'k1', output: 'o' });
    summary.add({ ok: true, key: 'k2', output: 'o' });
    summary.add({ ok: false, reason: 'empty' });
    summary.add({ ok: false, reason: 'bad-domain' });
    summary.add({ ok: false, reason: 'empty' });
    const snapshot = summary.snapshot();
    expect(snapshot).toEqual({
      rows: 6,
      valid: 3,
      invalid: 3,
      invalidByReason: { 'bad-domain': 1, empty: 2 },
      duplicates: 1,
      distinct: 2,
    });
    summary.add({ ok: true, key: 'k3', output: 'o' });
    expect(snapshot.rows).toBe(6); // a snapshot is a copy
  });

  it('dedupes digests by their 128-bit prefix across growth, in hex and base64', () => {
    const keys = new DistinctKeys();
    const digests: string[] = [];
    let state = 0x12345678;
    const word = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state.toString(16).padStart(8, '0');
    };
    for (let i = 0; i < 50_000; i++) digests.push(Array.from({ length: 8 }, word).join(''));
    expect(digests.filter((digest) => keys.add(digest))).toHaveLength(50_000);
    expect(digests.slice(0, 1000).filter((digest) => keys.add(digest))).toHaveLength(0);
    expect(keys.size).toBe(50_000);
    // Hex is case-insensitive (the same digest), and base64 of the same bytes is the same key.
    const sample = digests[7] as string;
    expect(keys.add(sample.toUpperCase())).toBe(false);
    const base64 = btoa(
      String.fromCharCode(...(sample.match(/../g) ?? []).map((h) => Number.parseInt(h, 16))),
    );
    expect(base64).toHaveLength(44);
    expect(keys.add(base64)).toBe(false);
    expect(keys.add(base64.replace(/=$/, ''))).toBe(false);
  });

  it('handles the all-zero digest and falls back to exact strings for other keys', () => {
    const keys = new DistinctKeys();
    expect(keys.add('0'.repeat(64))).toBe(true);
    expect(keys.add('0'.repeat(64))).toBe(false);
    expect(keys.add(`${'0'.repeat(63)}g`)).toBe(true); // not hex: exact string
    expect(keys.add(`${'0'.repeat(63)}g`)).toBe(false);
    expect(keys.add('a@x.com')).toBe(true);
    expect(keys.add('A@x.com')).toBe(true);
    expect(keys.size).toBe(4);
  });

  it('stays fast on look-alike prefixes (a crafted list of pass-through hashes)', () => {
    const keys = new DistinctKeys();
    let added = 0;
    for (let i = 0; i < 100_000; i++) if (keys.add(i.toString(16).padStart(8, '0').repeat(8))) added++;
    expect(added).toBe(100_000);
  });
});
