/**
 * `onboard hash` on worker threads gives what the single thread gives: the same output bytes, the
 * same summary, the same error (its line number included). A tiny size threshold and piece size
 * make small files take the threaded path, many pieces each.
 */
import { closeSync, createReadStream, openSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HashCommandOptions, runHashCommand } from '../../cli/hash-command.ts';
import { hashFileOnThreads, type ThreadSettings, threadSettings } from '../../cli/hash-threads.ts';
import { createListSummary } from '../../shared/domain/lists/list-summary.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hash-threads-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SINGLE: ThreadSettings = { threads: 1, minBytes: 1, pieceBytes: 1 };
const THREADED: ThreadSettings = { threads: 2, minBytes: 1, pieceBytes: 2048 };

/** A messy list: blanks, case, gmail dots and tags, empty lines, invalid rows, duplicates far apart. */
function messyList(rows: number): string {
  const lines = ['first@example.com'];
  for (let i = 0; i < rows; i++) {
    const pad = i % 7 === 0 ? '  ' : '';
    lines.push(`${pad}User.${i}${i % 3 ? '+tag@GMail.com' : '@example.org'}${i % 11 === 0 ? ' ' : ''}`);
    if (i % 100 === 0) lines.push('');
    if (i % 250 === 1) lines.push('bad@@x.com');
    if (i % 300 === 2) lines.push(`user.${i - 1}+x@gmail.com`);
    if (i % 400 === 3) lines.push('Jöhn.Dœ@exämple.com');
  }
  return `${lines.join('\n')}\n`;
}

interface Run {
  output: string;
  summary?: unknown;
  error?: string;
}

async function run(file: string, options: HashCommandOptions, settings: ThreadSettings): Promise<Run> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  const stdin = createReadStream(file);
  await new Promise((resolve) => stdin.once('open', resolve));
  try {
    const summary = await runHashCommand(options, stdin, sink, settings);
    return { output: Buffer.concat(chunks).toString('utf8'), summary };
  } catch (error) {
    return { output: Buffer.concat(chunks).toString('utf8'), error: (error as Error).message };
  } finally {
    stdin.destroy();
  }
}

describe('onboard hash on worker threads', () => {
  const endings = { lf: '\n', crlf: '\r\n', cr: '\r' } as const;
  for (const [name, eol] of Object.entries(endings)) {
    for (const profile of ['basic', 'google'] as const) {
      test(`${name} line endings, ${profile}: the single thread's bytes and summary`, async () => {
        const file = join(dir, `list-${name}-${profile}.txt`);
        await writeFile(file, messyList(3000).replace(/\n/g, eol));
        const single = await run(file, { profile }, SINGLE);
        const threaded = await run(file, { profile }, THREADED);
        expect(single.error).toBeUndefined();
        expect(threaded.output.length).toBeGreaterThan(100_000);
        expect(threaded.output === single.output).toBe(true);
        expect(threaded.summary).toEqual(single.summary);
      });
    }
  }

  test('a list without a final line break, uid2 base64, phones', async () => {
    const file = join(dir, 'phones.txt');
    const phones = Array.from({ length: 2000 }, (_, i) =>
      i % 9 ? `+1 202 555 ${String(i).padStart(4, '0')}` : 'nope',
    );
    await writeFile(file, phones.join('\n'));
    for (const options of [
      { profile: 'uid2', kind: 'phone' },
      { profile: 'basic', kind: 'phone' },
    ] as const) {
      const single = await run(file, options, SINGLE);
      const threaded = await run(file, options, THREADED);
      expect(threaded.output === single.output).toBe(true);
      expect(threaded.summary).toEqual(single.summary);
    }
  });

  test('a bad line in a later piece: the same error, naming the same line', async () => {
    const list = messyList(3000);
    const at = list.indexOf('\n', Math.floor(list.length * 0.7)) + 1;
    const line = list.slice(0, at).split('\n').length;
    for (const [name, bad] of [
      ['utf8', Buffer.from([0x61, 0xff, 0x62, 0x0a])],
      ['nul', Buffer.from('ab\0c\n')],
    ] as const) {
      const file = join(dir, `bad-${name}.txt`);
      await writeFile(
        file,
        Buffer.concat([Buffer.from(list.slice(0, at)), bad, Buffer.from(list.slice(at))]),
      );
      const single = await run(file, { profile: 'basic' }, SINGLE);
      const threaded = await run(file, { profile: 'basic' }, THREADED);
      expect(single.error).toMatch(new RegExp(`line ${line}\\b`));
      expect(threaded.error).toBe(single.error);
      // Whole pieces before the bad line are written: a prefix of what the single thread wrote.
      expect(single.output.startsWith(threaded.output)).toBe(true);
    }
  });

  test('a first line that refuses the list: the same error', async () => {
    const file = join(dir, 'phones-as-emails.txt');
    await writeFile(
      file,
      `${Array.from({ length: 3000 }, (_, i) => `+1 202 555 ${String(i).padStart(4, '0')}`).join('\n')}\n`,
    );
    const single = await run(file, { profile: 'basic', kind: 'email' }, SINGLE);
    const threaded = await run(file, { profile: 'basic', kind: 'email' }, THREADED);
    expect(single.error).toMatch(/wrong-kind/);
    expect(threaded.error).toBe(single.error);
  });

  test('a CSV stays on the single thread, with the same output', async () => {
    const file = join(dir, 'list.csv');
    const rows = messyList(2000)
      .split('\n')
      .slice(1, -1)
      .map((l, i) => `"${l.trim()}",${i}`);
    await writeFile(file, `email,n\n${rows.join('\n')}\n`);
    const single = await run(file, { profile: 'google' }, SINGLE);
    const threaded = await run(file, { profile: 'google' }, THREADED);
    expect(threaded.output === single.output).toBe(true);
    expect(threaded.summary).toEqual(single.summary);
  });

  test('the threaded path is the one taken for a list of lines, not for a CSV', async () => {
    const lines = join(dir, 'taken.txt');
    const csv = join(dir, 'taken.csv');
    await writeFile(lines, messyList(500));
    await writeFile(csv, `email,n\n${'a@b.co,1\n'.repeat(500)}`);
    const sink = new Writable({ write: (_c, _e, done) => done() });
    const taken = async (file: string) => {
      const fd = openSync(file, 'r');
      try {
        return await hashFileOnThreads(
          fd,
          statSync(file).size,
          sink,
          { profile: 'basic' },
          createListSummary(),
          THREADED,
        );
      } finally {
        closeSync(fd);
      }
    };
    expect(await taken(lines)).toBe(true);
    expect(await taken(csv)).toBe(false);
  });

  test('settings: defaults and overrides from the environment', () => {
    expect(threadSettings({}).minBytes).toBeGreaterThan(1024 * 1024);
    expect(threadSettings({ ONBOARD_HASH_THREADS: '3', ONBOARD_HASH_THREADS_MIN_BYTES: '10' })).toMatchObject(
      {
        threads: 3,
        minBytes: 10,
      },
    );
    expect(() => threadSettings({ ONBOARD_HASH_THREADS: '0' })).toThrow(/ONBOARD_HASH_THREADS/);
  });
});
