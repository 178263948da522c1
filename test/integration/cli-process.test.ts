/**
 * The `onboard` CLI as a user runs it: `node bin/onboard.js ...` in a child process against the
 * embedded stack, with a private temp directory, home and working folder per run. Every mistake is
 * one line on stderr and a nonzero status, never a stack trace; a closed stdout ends quietly;
 * signals and every other way out leave nothing in the temp directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personEmail } from '../../local/synthetic-data.ts';
import { CSV_COLUMNS } from '../../shared/domain/result/render-csv.ts';
import { hexLines, matchLines } from '../privacy/kit.ts';
import { exactCountScenario, range, seedPartner, startTestStack, type TestStack } from './helpers.ts';

const BIN = resolve('bin/onboard.js');
const PARTNER = 'cli-partner';
const ADV = 'cli-adv';
const K = 20;

const scenario = exactCountScenario({
  base: 7_000_000,
  listSize: 400,
  segments: [
    { segmentId: 'big', name: 'Big spenders', listMatches: 150 },
    { segmentId: 'mid', name: '=Mid', listMatches: 60 },
    { segmentId: 'few', name: 'Few', listMatches: 5 },
  ],
});

let t: TestStack;
let root: string;
let apiUrl: string;
let advToken: string;

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: String(K),
    SHARD_COUNT: '4',
  });
  apiUrl = t.stack.apiUrl;
  advToken = t.token(ADV, 'advertiser');
  expect((await seedPartner(t.client(PARTNER, 'partner'), PARTNER, scenario.segments)).status).toBe(
    'SUCCEEDED',
  );
  root = await mkdtemp(join(tmpdir(), 'cli-process-'));
});

afterAll(async () => {
  await t?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Running the CLI

interface Sandbox {
  /** The run's TMPDIR: must be empty once the CLI has ended. */
  tmp: string;
  /** Working folder and home. */
  cwd: string;
}

let sandboxes = 0;
async function sandbox(): Promise<Sandbox> {
  const dir = join(root, String(++sandboxes));
  const box = { tmp: join(dir, 'tmp'), cwd: join(dir, 'work') };
  await mkdir(box.tmp, { recursive: true });
  await mkdir(box.cwd, { recursive: true });
  return box;
}

interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(
  box: Sandbox,
  args: readonly string[],
  options: { env?: Record<string, string>; closeStdout?: boolean } = {},
): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: box.cwd,
    // Nothing inherited: no ONBOARD_* of the machine, no stack.json of the repository.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: box.cwd,
      TMPDIR: box.tmp,
      // tsx would keep its compile cache (our source code, no data) in the temp directory.
      TSX_DISABLE_CACHE: '1',
      ONBOARD_DATA_DIR: join(box.cwd, '.onboard'),
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (options.closeStdout) child.stdout?.destroy();
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const done = new Promise<CliRun>((resolveRun) =>
    child.on('close', (status, signal) => resolveRun({ status, signal, stdout, stderr })),
  );
  return { child, done };
}

async function onboard(
  box: Sandbox,
  args: readonly string[],
  options: { env?: Record<string, string>; stdin?: string; closeStdout?: boolean } = {},
): Promise<CliRun> {
  const { child, done } = start(box, args, options);
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.stdin ?? '');
  return done;
}

/** The advertiser's connection to the test stack. */
const asAdvertiser = () => ({ ONBOARD_API_URL: apiUrl, ONBOARD_TOKEN: advToken });

/** Everything left in a folder, recursively. */
const leftovers = (dir: string) => readdirSync(dir, { recursive: true }).map(String);

function expectOneLine(run: CliRun, pattern: RegExp) {
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^onboard: /);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/^\s+at /m);
}

/** The run without its progress lines (off a terminal, the bars print a line every 10 %). */
const withoutProgress = (run: CliRun): CliRun => ({
  ...run,
  stderr: run.stderr.replace(/^(hashing|matching) .*\n/gm, ''),
});

async function until(condition: () => boolean, what: string, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function writeList(box: Sandbox, name = 'crm.txt'): Promise<string> {
  const path = join(box.cwd, name);
  await writeFile(path, scenario.listText);
  return path;
}

// ---------------------------------------------------------------------------------------------

describe('a user mistake is one line on stderr and a nonzero status', () => {
  it('a missing list: nothing is sent, nothing is left in the temp directory', async () => {
    const box = await sandbox();
    const run = await onboard(box, ['match', '--partner', PARTNER, '--list', 'missing.csv'], {
      env: asAdvertiser(),
    });
    expect(run.status).toBe(1);
    expectOneLine(run, /^onboard: Cannot read the list missing\.csv: no such file or folder\.$/);
    expect(leftovers(box.tmp)).toEqual([]);
  });

  it('a list that cannot be read (a folder)', async () => {
    const box = await sandbox();
    const run = await onboard(box, ['match', '--partner', PARTNER, '--list', box.cwd], {
      env: asAdvertiser(),
    });
    expect(run.status).toBe(1);
    expectOneLine(run, /Cannot read the list .*: it is a folder, not a file\.$/);
    expect(leftovers(box.tmp)).toEqual([]);
  });

  it('a segments file that is not JSON, before anything is uploaded', async () => {
    const box = await sandbox();
    await writeFile(join(box.cwd, 'segments.json'), '[{"segmentId": "a",');
    await writeFile(join(box.cwd, 'members.csv'), 'sha256,segment_id\n');
    const run = await onboard(
      box,
      ['partner', 'upload', '--partner', PARTNER, '--file', 'members.csv', '--segments', 'segments.json'],
      { env: { ONBOARD_API_URL: apiUrl, ONBOARD_TOKEN: t.token(PARTNER, 'partner') } },
    );
    expect(run.status).toBe(1);
    expectOneLine(run, /The segments file segments\.json is not valid JSON\./);
  });

  it('a wrong flag value: status 2, the flag and what it expects', async () => {
    const box = await sandbox();
    const list = await writeList(box);
    const k = await onboard(box, [
      'match',
      '--partner',
      PARTNER,
      '--list',
      list,
      '--min-segment-size',
      'abc',
    ]);
    expect(k.status).toBe(2);
    expectOneLine(k, /--min-segment-size.*'abc' is invalid.*positive integer/);
    const region = await onboard(box, ['hash', '--kind', 'phone', '--region', 'ZZ'], {
      stdin: '5551234567\n',
    });
    expect(region.status).toBe(2);
    expectOneLine(region, /--region.*'ZZ' is invalid.*country code/);
    expect(region.stdout).toBe('');
    const url = await onboard(box, ['partners', '--api-url', 'localhost-3000', '--token', 'x']);
    expect(url.status).toBe(2);
    expectOneLine(url, /--api-url.*http or https URL/);
    expect(leftovers(box.tmp)).toEqual([]);
  });

  it('the stack not running: the API at its URL is not reachable, start it with npm start', async () => {
    const box = await sandbox();
    const down = `http://127.0.0.1:${await closedPort()}`;
    const run = await onboard(box, ['partners'], { env: { ONBOARD_API_URL: down, ONBOARD_TOKEN: 'x' } });
    expect(run.status).toBe(1);
    expectOneLine(
      run,
      new RegExp(`The API at ${down} is not reachable \\(connection refused\\)\\. Start .*\`npm start\``),
    );
    const nothing = await onboard(box, ['matches']);
    expect(nothing.status).toBe(1);
    expectOneLine(nothing, /No API to talk to: start the embedded stack with `npm start`/);
  });

  it('an expired or invalid token: the API refused it', async () => {
    const box = await sandbox();
    const run = await onboard(box, ['matches'], {
      env: { ONBOARD_API_URL: apiUrl, ONBOARD_TOKEN: 'dev_advertiser_cli-adv_expired000' },
    });
    expect(run.status).toBe(1);
    expectOneLine(
      run,
      /^onboard: unauthorized: The API at .* refused the token: the token expired or was refused, run `onboard login`/,
    );
  });

  it("the API's field-level validation errors are shown, not only 'The body is not valid.'", async () => {
    const box = await sandbox();
    // A column name the file has, but longer than the API takes: only the API can refuse it.
    const column = 'c'.repeat(70);
    const list = join(box.cwd, 'long-column.csv');
    await writeFile(list, `${column}\n${range(0, 200).map(personEmail).join('\n')}\n`);
    const run = await onboard(
      box,
      ['match', '--partner', PARTNER, '--list', list, '--raw', '--column', column],
      { env: asAdvertiser() },
    );
    expect(run.status).toBe(1);
    expectOneLine(run, /^onboard: invalid-request: The body is not valid: body\.column: .*64/);
  });
});

describe('a closed stdout ends quietly', () => {
  it('`onboard partners | head` with the reader gone: status 0, nothing on stderr', async () => {
    const box = await sandbox();
    const run = await onboard(box, ['partners'], { env: asAdvertiser(), closeStdout: true });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('`onboard hash` streaming into a closed pipe', async () => {
    const box = await sandbox();
    const emails = `${range(0, 5000).map(personEmail).join('\n')}\n`;
    const run = await onboard(box, ['hash'], { stdin: emails, closeStdout: true });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});

describe('signals', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} during a match removes the hashes of the list from the temp directory`, async () => {
      const box = await sandbox();
      // The list comes through a pipe kept open, so the CLI is caught mid-hashing, its hashes on disk.
      const { child, done } = start(box, ['match', '--partner', PARTNER, '--list', '-'], {
        env: asAdvertiser(),
      });
      child.stdin?.on('error', () => undefined);
      child.stdin?.write(scenario.listText);
      const hashed = () =>
        leftovers(box.tmp)
          .filter((f) => f.endsWith('hashed.txt'))
          .map((f) => join(box.tmp, f));
      await until(
        () => hashed().some((f) => existsSync(f) && statSync(f).size > 0),
        'the hashed list on disk',
      );
      child.kill(signal);
      const run = await done;
      child.stdin?.destroy();
      expect(run.signal ?? run.status).toBe(signal);
      expectOneLine(
        withoutProgress(run),
        new RegExp(
          `^onboard: ${signal === 'SIGINT' ? 'interrupted' : 'stopped by SIGTERM'}; temporary files removed\\.$`,
        ),
      );
      expect(leftovers(box.tmp)).toEqual([]);
    });
  }
});

describe('results', () => {
  let firstMatchId: string;

  it('a match: the table with headers and footnotes, a tidy CSV, --json, nothing left in the temp directory', async () => {
    const box = await sandbox();
    const list = await writeList(box);
    const run = await onboard(box, ['match', '--partner', PARTNER, '--list', list, '--out', 'out/first'], {
      env: asAdvertiser(),
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^segment\s+matched\s+share\s+affinity\s+withheld$/m);
    expect(run.stdout).toMatch(/^Few\s+—\s+—\s+—\s+below-k$/m);
    expect(run.stdout).toMatch(/^withheld, below-k: fewer than k = 20 people/m);
    expect(run.stdout).toMatch(/^share: /m);
    expect(run.stdout).toMatch(/^affinity: /m);
    expect(leftovers(box.tmp)).toEqual([]);
    firstMatchId = /^match (\S+): SUCCEEDED$/m.exec(run.stdout)?.[1] as string;
    expect(firstMatchId).toBeTruthy();

    const rows = parseCsv(await readFile(join(box.cwd, 'out/first.csv'), 'utf8'), {
      bom: true,
    }) as string[][];
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.map((r) => r[0])).toEqual(['segment_id', 'big', 'mid', 'few']);
    expect(rows[2]?.[1]).toBe("'=Mid");

    const json = await onboard(box, ['status', firstMatchId, '--json'], { env: asAdvertiser() });
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ matchId: firstMatchId, status: 'SUCCEEDED' });
  });

  it('--json on the lists: partners and matches', async () => {
    const box = await sandbox();
    const partners = await onboard(box, ['partners', '--json'], { env: asAdvertiser() });
    expect(partners.status).toBe(0);
    expect(JSON.parse(partners.stdout).partners.map((p: { partnerId: string }) => p.partnerId)).toContain(
      PARTNER,
    );
    const table = await onboard(box, ['partners'], { env: asAdvertiser() });
    expect(table.stdout).toMatch(/^partner\s+profile\s+kinds\s+segment\s+name\s+people\s+description$/m);
    const matches = await onboard(box, ['matches', '--json'], { env: asAdvertiser() });
    expect(matches.status).toBe(0);
    expect(JSON.parse(matches.stdout).matches.map((m: { matchId: string }) => m.matchId)).toContain(
      firstMatchId,
    );
  });

  it('a replay says which match it repeats and that no budget was spent', async () => {
    const box = await sandbox();
    const list = await writeList(box);
    const run = await onboard(
      box,
      ['match', '--partner', PARTNER, '--list', list, '--json', '--out', 'out/again'],
      {
        env: asAdvertiser(),
      },
    );
    expect(run.status, run.stderr).toBe(0);
    const { match } = JSON.parse(run.stdout);
    expect(match.result.replayOf).toBe(firstMatchId);
    const status = await onboard(box, ['status', match.matchId], { env: asAdvertiser() });
    expect(status.stdout).toContain(`replay of match ${firstMatchId}`);
    expect(status.stdout).toContain('no budget spent');
    const audit = await t
      .client(ADV, 'advertiser')
      .get<{ entries: { matchId: string; event: string }[] }>('/v1/audit');
    expect(audit.entries.find((e) => e.matchId === match.matchId)?.event).toBe('match-replayed');
  });

  it('`onboard status` of a FAILED match exits nonzero', async () => {
    // Through the API itself: the CLI refuses a list this small before uploading it.
    const match = await matchLines(t.client(ADV, 'advertiser'), PARTNER, hexLines(range(7_100_000, 20)), {
      profile: 'google',
    });
    expect(match.status).toBe('FAILED');
    const box = await sandbox();
    const run = await onboard(box, ['status', match.matchId], { env: asAdvertiser() });
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^match ${match.matchId}: FAILED \\(list-too-small: `));
    const json = await onboard(box, ['status', match.matchId, '--json'], { env: asAdvertiser() });
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'FAILED', code: 'list-too-small' });
  });
});

describe('deletion from the CLI', () => {
  it('`onboard delete match` and `onboard delete list` remove them; a second delete is one clear line and status 1', async () => {
    const box = await sandbox();
    const adv = t.client(ADV, 'advertiser');
    const match = await matchLines(adv, PARTNER, hexLines(range(7_200_000, 20)), { profile: 'google' });
    const gone = await onboard(box, ['delete', 'match', match.matchId], { env: asAdvertiser() });
    expect(gone.status, gone.stderr).toBe(0);
    expect(gone.stdout).toBe(`match ${match.matchId} deleted\n`);
    const again = await onboard(box, ['delete', 'match', match.matchId], { env: asAdvertiser() });
    expect(again.status).toBe(1);
    expectOneLine(again, /^onboard: not-found: /);
    const list = await onboard(box, ['delete', 'list', match.listId, '--json'], { env: asAdvertiser() });
    expect(list.status, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual({ listId: match.listId, deleted: true });
  });
});

describe('partner erasure and segment deletion from the CLI', () => {
  const asPartner = () => ({ ONBOARD_API_URL: apiUrl, ONBOARD_TOKEN: t.token(PARTNER, 'partner') });

  it('`onboard partner erase --email` hashes locally and prints what went; a bad value sends nothing', async () => {
    const box = await sandbox();
    const person = scenario.segments[0]?.people[0] as number;
    const bad = await onboard(box, ['partner', 'erase', '--partner', PARTNER, '--email', 'not-an-email'], {
      env: asPartner(),
    });
    expect(bad.status).toBe(1);
    expectOneLine(bad, /--email #1: /);
    const run = await onboard(
      box,
      ['partner', 'erase', '--partner', PARTNER, '--email', personEmail(person).toUpperCase(), '--json'],
      { env: asPartner() },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ partnerId: PARTNER, requests: 1, found: 1, people: 1 });
    expect(leftovers(box.tmp)).toEqual([]);
  });

  it('`onboard partner delete-segment` removes it; a second time is one clear line and status 1', async () => {
    const box = await sandbox();
    const run = await onboard(box, ['partner', 'delete-segment', 'few', '--partner', PARTNER], {
      env: asPartner(),
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^segment few deleted from /);
    const again = await onboard(box, ['partner', 'delete-segment', 'few', '--partner', PARTNER], {
      env: asPartner(),
    });
    expect(again.status).toBe(1);
    expectOneLine(again, /^onboard: not-found: /);
  });
});

describe('the demo', () => {
  it('exits 0 and leaves nothing in the temp directory', async () => {
    const box = await sandbox();
    const run = await onboard(
      box,
      ['demo', '--partner-base', '20000', '--list-size', '3000', '--out', 'out'],
      {
        env: { POWERTOOLS_LOG_LEVEL: 'ERROR' },
      },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^segment\s+matched\s+share\s+affinity\s+withheld$/m);
    expect(readdirSync(join(box.cwd, 'out')).sort()).toEqual([
      expect.stringMatching(/^audience-.*\.csv$/),
      expect.stringMatching(/^audience-.*\.json$/),
    ]);
    expect(leftovers(box.tmp)).toEqual([]);
  }, 240_000);
});
