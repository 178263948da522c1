/**
 * Crash recovery of the embedded stack, as an operator meets it: `onboard dev` runs in a child
 * process; a raw list is hashing, a match is mid-run and a partner ingest holds the partner lock
 * when the process is killed with SIGKILL. Started again on the same data directory, the stack
 * recovers within a bounded time: the list is hashed again from its raw upload (READY), the match
 * and the ingest end FAILED `interrupted`; nothing raw, no drop, shard or tally is left on disk; a
 * match that had finished before the crash is intact; the same uploads, sent again, succeed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, uploadTo } from '../../cli/api-client.ts';
import { personEmail } from '../../local/synthetic-data.ts';

const REPO = join(import.meta.dirname, '..', '..');
/** The recovered stack must settle every interrupted job within this (it takes a few seconds). */
const RECOVERY_BOUND_MS = 30_000;
/** Sized so each job is still in flight when the stack is killed, and the test stays short. */
const DROP_ROWS = 40_000;
const RAW_ROWS = 300_000;

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
/** Raw emails of a domain nothing else uses, so a dump can be searched for them. */
const rawEmail = (n: number) => `crash.person${n}@recovery-test.example`;
const RAW_MARKER = 'recovery-test.example';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Child {
  process: ChildProcess;
  /** The dynalite process it forked (it outlives a SIGKILL of its parent by a moment). */
  dynalitePid: number;
}

async function startStack(dataDir: string, port: number): Promise<Child> {
  const child = spawn(
    process.execPath,
    ['bin/onboard.js', 'dev', '--data-dir', dataDir, '--port', String(port)],
    {
      cwd: REPO,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', SHARD_COUNT: '4' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack did not start: ${stderr}`)), 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('embedded stack running')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`stack exited (${code}): ${stderr}`)));
  });
  child.stderr?.resume();
  const dynalitePid = Number(
    execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)])
      .toString()
      .trim(),
  );
  return { process: child, dynalitePid };
}

async function killHard(child: Child): Promise<void> {
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill('SIGKILL');
  await exited;
  // dynalite leaves when its parent's IPC channel closes; its LevelDB lock goes with it.
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(child.dynalitePid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  process.kill(child.dynalitePid, 'SIGKILL');
}

async function stopStack(child: Child): Promise<void> {
  if (child.process.exitCode !== null) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill('SIGTERM');
  await exited;
}

/** Every file under a directory, relative to it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out;
}

async function until<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await sleep(25);
  }
}

type Status = { status: string; code?: string; progress?: { phase: string } };

describe('crash recovery of the embedded stack (kill -9 mid-hashing, mid-match, mid-ingest)', () => {
  let dataDir: string;
  let port: number;
  let child: Child;
  let advertiser: ApiClient;
  let partner: ApiClient;
  const PARTNER = 'northwind-data';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'onboard-crash-'));
    port = await freePort();
    child = await startStack(dataDir, port);
    const { tokens } = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as {
      tokens: { tenantId: string; role: string; token: string }[];
    };
    const tokenOf = (tenantId: string) => tokens.find((t) => t.tenantId === tenantId)?.token;
    advertiser = new ApiClient(`http://127.0.0.1:${port}`, tokenOf('acme-retail'));
    partner = new ApiClient(`http://127.0.0.1:${port}`, tokenOf(PARTNER));
  }, 60_000);

  afterAll(async () => {
    if (child) await stopStack(child);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const declareAudience = async (segments: string[]) =>
    partner.post<{
      audienceId: string;
      upload: { url: string; method: 'PUT'; headers: Record<string, string> };
    }>(`/v1/partners/${PARTNER}/audiences`, {
      profile: 'google',
      segments: segments.map((id) => ({ segmentId: id, name: `Segment ${id}`, description: '' })),
    });
  const audience = (id: string) => partner.get<Status>(`/v1/partners/${PARTNER}/audiences/${id}`);
  const list = (id: string) => advertiser.get<Status & { summary?: { valid: number } }>(`/v1/lists/${id}`);
  const match = (id: string) => advertiser.get<Status & { result?: unknown }>(`/v1/matches/${id}`);
  const newList = async (format: 'hashed' | 'raw', text: string) => {
    const { listId, upload } = await advertiser.post<{
      listId: string;
      upload: { url: string; method: 'PUT'; headers: Record<string, string> };
    }>('/v1/lists', { format, profile: 'google', kind: 'email' });
    await uploadTo(upload, { text });
    return listId;
  };
  const startMatch = (listId: string) =>
    advertiser.post<{ matchId: string }>('/v1/matches', { listId, partnerId: PARTNER });

  it('resumes or fails every interrupted job, leaves nothing behind, keeps what finished', async () => {
    // 1. A partner with two segments, and a match that finishes before the crash.
    const seed = ['sha256,segment_id'];
    for (let n = 0; n < 3_000; n++) seed.push(`${sha(personEmail(n))},seg-a`);
    for (let n = 1_500; n < 4_500; n++) seed.push(`${sha(personEmail(n))},seg-b`);
    const seeded = await declareAudience(['seg-a', 'seg-b']);
    await uploadTo(seeded.upload, { text: `${seed.join('\n')}\n` });
    await until(
      () => audience(seeded.audienceId),
      (a) => a.status === 'SUCCEEDED',
      30_000,
      'the seed ingest',
    );
    const small = Array.from({ length: 4_000 }, (_, n) => sha(personEmail(n)));
    const doneListId = await newList('hashed', `${small.join('\n')}\n`);
    const { matchId: doneId } = await startMatch(doneListId);
    const finished = await until(
      () => match(doneId),
      (m) => m.status === 'SUCCEEDED',
      60_000,
      'the first match',
    );

    // 2. Three jobs in flight: a long match, a large ingest, a large raw list (each polled into
    // its phase before the next starts; the fastest, hashing, last).
    const bigList = Array.from({ length: 200_000 }, (_, n) => sha(personEmail(n)));
    const dropRows = ['sha256,segment_id'];
    for (let n = 0; n < DROP_ROWS; n++) dropRows.push(`${sha(personEmail(n))},seg-c`);
    const drop = `${dropRows.join('\n')}\n`;
    const raw = `${Array.from({ length: RAW_ROWS }, (_, n) => rawEmail(n)).join('\n')}\n`;

    const bigListId = await newList('hashed', `${bigList.join('\n')}\n`);
    const { matchId: deadMatchId } = await startMatch(bigListId);
    await until(
      () => match(deadMatchId),
      (m) => m.progress?.phase === 'matching',
      30_000,
      'the match to run',
    );
    const deadIngest = await declareAudience(['seg-c']);
    await uploadTo(deadIngest.upload, { text: drop });
    await until(
      () => audience(deadIngest.audienceId),
      (a) => a.status === 'INGESTING',
      30_000,
      'the ingest',
    );
    const rawListId = await newList('raw', raw);
    await until(
      () => list(rawListId),
      (l) => l.status === 'HASHING',
      30_000,
      'hashing',
    );

    // Still in flight, all three, when the stack dies.
    expect((await match(deadMatchId)).status).toBe('RUNNING');
    expect((await audience(deadIngest.audienceId)).status).toBe('INGESTING');
    expect((await list(rawListId)).status).toBe('HASHING');
    await killHard(child);

    // 3. Started again on the same data directory: every job settles within the bound.
    const restartedAt = Date.now();
    child = await startStack(dataDir, port);
    const settled = (s: Status) => s.status === 'READY' || s.status === 'SUCCEEDED' || s.status === 'FAILED';
    const [rawAfter, ingestAfter, matchAfter] = await Promise.all([
      until(() => list(rawListId), settled, RECOVERY_BOUND_MS, 'the raw list'),
      until(() => audience(deadIngest.audienceId), settled, RECOVERY_BOUND_MS, 'the ingest'),
      until(() => match(deadMatchId), settled, RECOVERY_BOUND_MS, 'the match'),
    ]);
    const recoveryMs = Date.now() - restartedAt;
    // The raw list is hashed again from its upload; the others stop with the stable code.
    expect(rawAfter.status).toBe('READY');
    expect(rawAfter.summary?.valid).toBe(RAW_ROWS);
    expect(ingestAfter).toMatchObject({ status: 'FAILED', code: 'interrupted' });
    expect(matchAfter).toMatchObject({ status: 'FAILED', code: 'interrupted' });
    expect(recoveryMs).toBeLessThan(RECOVERY_BOUND_MS);

    // 4. Nothing an interrupted job held is left at rest: no raw upload, drop, shard or tally, no
    // raw email anywhere in the data directory, no local split files of the dead match.
    // (A handler deletes its input just after its status: the dump is polled within the same bound.)
    const leftovers = () =>
      filesUnder(join(dataDir, 's3')).filter((f) => /(^|\/)(raw|audiences|shards|tallies)\//.test(f));
    await until(
      async () => leftovers(),
      (l) => l.length === 0,
      RECOVERY_BOUND_MS,
      'no leftovers',
    );
    const cleanMs = Date.now() - restartedAt;
    for (const file of filesUnder(dataDir)) {
      expect(readFileSync(join(dataDir, file)).includes(RAW_MARKER), file).toBe(false);
    }
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith(`onboard-split-${deadMatchId}-`))).toEqual([]);
    // Nor the ingest's spilled people shards (partner digests).
    expect(
      readdirSync(tmpdir()).filter((d) => d.startsWith(`onboard-ingest-${deadIngest.audienceId}-`)),
    ).toEqual([]);

    // 5. What finished before the crash is intact.
    const again = await match(doneId);
    expect(again.status).toBe('SUCCEEDED');
    expect(again.result).toEqual(finished.result);

    // 6. The same uploads, sent again, succeed: the partner lock of the dead ingest is free.
    const retried = await declareAudience(['seg-c']);
    await uploadTo(retried.upload, { text: drop });
    const [ingestRetried, rawRetried, matchRetried] = await Promise.all([
      until(() => audience(retried.audienceId), settled, 150_000, 'the ingest retried'),
      newList('raw', raw).then((id) => until(() => list(id), settled, 60_000, 'the raw list retried')),
      startMatch(doneListId).then(({ matchId }) => until(() => match(matchId), settled, 60_000, 'a match')),
    ]);
    expect(ingestRetried.status).toBe('SUCCEEDED');
    expect(rawRetried.status).toBe('READY');
    expect(matchRetried.status).toBe('SUCCEEDED');
    process.stderr.write(
      `crash recovery: jobs settled ${recoveryMs} ms and leftovers gone ${cleanMs} ms after the restart\n`,
    );
  }, 300_000);
});
