/**
 * One end-to-end figure: the embedded stack (s3rver, dynalite, the real handlers, shard worker
 * threads) started as the integration tests start it, with the privacy settings at their defaults
 * (noise on); a partner audience ingested through the API; then the CLI's own match flow on a list
 * of emails (hashed locally, uploaded, split, matched shard by shard, reduced, released) and the
 * download of the result. Reports wall time per phase (the phases as the match record reports them
 * while the CLI polls it), peak RSS of the process and of dynalite's, and the S3 and DynamoDB
 * requests per million list rows, counted by pass-through proxies in front of both servers (so the
 * worker threads' requests count too).
 *
 * Runs in a child process, so its peak RSS is its own (not the other benches').
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiClient } from '../cli/api-client.ts';
import { downloadResult, runMatch, uploadPartnerAudience } from '../cli/flows.ts';
import { personEmail } from '../local/synthetic-data.ts';
import { type CountingProxy, startCountingProxy } from './counting-proxy.ts';
import { partnerMemberships, segmentIdOf } from './synthetic.ts';
import { type BenchOutput, type Check, check, human, type ReportRow, round } from './table.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');

export interface EndToEndSizes {
  /** Partner members; each in 1 to 3 of the segments (2 on average). */
  members: number;
  segments: number;
  /** List rows (distinct emails); the first members/2 of them are partner members. */
  listRows: number;
}

/**
 * dynalite (a JavaScript DynamoDB on LevelDB) ingests a few thousand memberships a second and
 * answers a few thousand keys a second on this 2-core machine: 100k members keep the setup near a
 * minute, and the 1M-row list is the figure.
 */
export const FULL_E2E: EndToEndSizes = { members: 100_000, segments: 20, listRows: 1_000_000 };
export const QUICK_E2E: EndToEndSizes = { members: 50_000, segments: 20, listRows: 100_000 };

interface ChildResult {
  sizes: EndToEndSizes;
  memberships: number;
  status: string;
  errorCode?: string;
  releasedSegments: number;
  seconds: Record<string, number>;
  /** Phase of the match record -> seconds from the match's start to the first poll that saw it. */
  phaseSeenAt: Record<string, number>;
  requests: { ingest: Record<string, number>; match: Record<string, number> };
  peakRssMb: { process: number; dynalite: number | null };
}

// --- The child: runs the stack and the flows --------------------------------------------------

async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(path);
  for (const line of lines) {
    if (!out.write(`${line}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
}

/** VmHWM (peak resident set) of a process, in MB; null when unreadable. */
async function peakRssOf(pid: number | 'self'): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+)/.exec(status)?.[1];
    return kb ? round(Number(kb) / 1024, 1) : null;
  } catch {
    return null;
  }
}

/** Child processes of this one (dynalite runs in one). */
async function childPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid) pids.push(Number(entry));
  }
  return pids;
}

const diff = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  );

async function child(sizes: EndToEndSizes): Promise<ChildResult> {
  const dir = await mkdtemp(join(tmpdir(), 'onboard-e2e-'));
  const proxies: CountingProxy[] = [];
  let stop: (() => Promise<void>) | undefined;
  try {
    // The partner: members 0..members-1 in 1 to 3 segments each; the list: people from members/2 on,
    // so its first members/2 rows are in the partner's base.
    const partner = partnerMemberships(sizes.members, sizes.segments, 11);
    const { createHash } = await import('node:crypto');
    const membersFile = join(dir, 'members.csv');
    await writeLines(
      membersFile,
      (function* () {
        yield 'sha256,segment_id';
        for (let m = 0; m < sizes.members; m++) {
          const hash = createHash('sha256').update(personEmail(m)).digest('hex');
          for (let j = 0; j < (partner.counts[m] as number); j++)
            yield `${hash},${segmentIdOf(partner.segs[m * 3 + j] as number)}`;
        }
      })(),
    );
    const listFile = join(dir, 'list.txt');
    const first = Math.floor(sizes.members / 2);
    await writeLines(
      listFile,
      (function* () {
        for (let i = 0; i < sizes.listRows; i++) yield personEmail(first + i);
      })(),
    );

    const s3 = await startCountingProxy('s3');
    const dynamo = await startCountingProxy('dynamodb');
    proxies.push(s3, dynamo);
    const t0 = performance.now();
    const { startEmbeddedStack } = await import('../local/embedded-stack.ts');
    const stack = await startEmbeddedStack({
      dataDir: join(dir, 'stack'),
      ephemeral: true,
      console: false,
      sweepEveryMs: 0,
      // Default privacy settings (noise on); only the endpoints go through the counting proxies.
      env: {
        AWS_ENDPOINT_URL_S3: s3.url,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
        POWERTOOLS_LOG_LEVEL: 'WARN',
      },
    });
    stop = () => stack.stop();
    s3.target(stack.s3Endpoint);
    dynamo.target(stack.dynamoEndpoint);
    const { ApiClient: Client } = await import('../cli/api-client.ts');
    const partnerClient: ApiClient = new Client(stack.apiUrl, stack.token('e2e-partner', 'partner'));
    const advertiser: ApiClient = new Client(stack.apiUrl, stack.token('e2e-advertiser', 'advertiser'));
    const seconds: Record<string, number> = { stackStart: (performance.now() - t0) / 1000 };

    const t1 = performance.now();
    const report = await uploadPartnerAudience(partnerClient, {
      partnerId: 'e2e-partner',
      profile: 'google',
      segments: Array.from({ length: sizes.segments }, (_, s) => ({
        segmentId: segmentIdOf(s),
        name: `Segment ${segmentIdOf(s)}`,
        description: 'synthetic',
      })),
      source: { file: membersFile },
    });
    if (report.status !== 'SUCCEEDED') throw new Error(`e2e: the partner ingest ${report.status}`);
    await stack.idle();
    seconds.ingest = (performance.now() - t1) / 1000;
    const afterIngest = { s3: { ...s3.counts }, dynamo: { ...dynamo.counts } };

    // The match through the CLI's flow; the match record's phases as the CLI's polls see them.
    const phaseSeenAt: Record<string, number> = {};
    let matchStarted = 0;
    const t2 = performance.now();
    const call = advertiser.call.bind(advertiser);
    advertiser.call = (async (...args: Parameters<typeof call>) => {
      const answer = await call(...args);
      if (args[0] === 'getMatch') {
        const m = answer as { status: string; progress: { phase: string } };
        const key = m.status === 'SUCCEEDED' || m.status === 'FAILED' ? m.status : m.progress.phase;
        phaseSeenAt[key] ??= round((performance.now() - matchStarted) / 1000, 2);
      }
      return answer;
    }) as typeof advertiser.call;
    const post = advertiser.post.bind(advertiser);
    advertiser.post = (async (path: string, body?: unknown) => {
      if (path === '/v1/matches') {
        seconds.hashAndUpload = (performance.now() - t2) / 1000;
        matchStarted = performance.now();
      }
      return post(path, body);
    }) as typeof advertiser.post;
    const { match } = await runMatch(advertiser, {
      partnerId: 'e2e-partner',
      list: { file: listFile },
      quiet: true,
    });
    seconds.match = (performance.now() - matchStarted) / 1000;
    const t3 = performance.now();
    if (match.status === 'SUCCEEDED') await downloadResult(advertiser, match.matchId, join(dir, 'result'));
    seconds.download = (performance.now() - t3) / 1000;
    seconds.downloadMs = performance.now() - t3;
    seconds.listToResult = (performance.now() - t2) / 1000;
    await stack.idle();

    const dynalitePids = await childPids();
    const dynaliteRss = (await Promise.all(dynalitePids.map((p) => peakRssOf(p)))).filter(
      (x): x is number => x !== null,
    );
    const result = match as { status: string; errorCode?: string; result?: { segments?: unknown[] } };
    return {
      sizes,
      memberships: partner.memberships,
      status: match.status,
      ...(result.errorCode ? { errorCode: result.errorCode } : {}),
      releasedSegments: result.result?.segments?.length ?? 0,
      seconds: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, round(v, 2)])),
      phaseSeenAt,
      requests: {
        ingest: { ...prefixed('s3', afterIngest.s3), ...prefixed('dynamodb', afterIngest.dynamo) },
        match: {
          ...prefixed('s3', diff(s3.counts, afterIngest.s3)),
          ...prefixed('dynamodb', diff(dynamo.counts, afterIngest.dynamo)),
        },
      },
      peakRssMb: {
        process: (await peakRssOf('self')) ?? 0,
        dynalite: dynaliteRss.length ? Math.max(...dynaliteRss) : null,
      },
    };
  } finally {
    await stop?.().catch(() => undefined);
    for (const p of proxies) await p.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const prefixed = (prefix: string, counts: Record<string, number>) =>
  Object.fromEntries(Object.entries(counts).map(([k, v]) => [`${prefix} ${k}`, v]));

// --- The parent: runs the child, reports -------------------------------------------------------

function runChild(sizes: EndToEndSizes): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(HERE, 'end-to-end.ts'), '--child', JSON.stringify(sizes)],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
    );
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`end-to-end child exited ${code}: ${err.slice(-2000)}`));
      try {
        resolvePromise(JSON.parse(out.trim().split('\n').pop() ?? '') as ChildResult);
      } catch (error) {
        reject(new Error(`end-to-end child printed no result: ${String(error)} ${err.slice(-2000)}`));
      }
    });
  });
}

const sum = (counts: Record<string, number>, prefix: string) =>
  Object.entries(counts)
    .filter(([k]) => k.startsWith(prefix))
    .reduce((a, [, v]) => a + v, 0);

export async function benchEndToEnd(options: { quick?: boolean } = {}): Promise<BenchOutput> {
  const sizes = options.quick ? QUICK_E2E : FULL_E2E;
  const r = await runChild(sizes);
  const perMillion = (n: number) => Math.round((n * 1e6) / sizes.listRows);
  const matchS3 = sum(r.requests.match, 's3 ');
  const matchDynamo = sum(r.requests.match, 'dynamodb ');
  const row: ReportRow = {
    name: `end-to-end: CLI match of ${human(sizes.listRows)} emails against ${human(r.memberships)} memberships (embedded stack, noise on)`,
    rows: sizes.listRows,
    seconds: r.seconds.listToResult ?? 0,
    rowsPerSecond: Math.round(sizes.listRows / (r.seconds.listToResult ?? 1)),
    ratioToBaseline: null,
    peakRssMb: r.peakRssMb.process,
    partnerMembers: sizes.members,
    memberships: r.memberships,
    segments: sizes.segments,
    status: r.status,
    ...(r.errorCode ? { errorCode: r.errorCode } : {}),
    releasedSegments: r.releasedSegments,
    secondsByStep: r.seconds,
    matchPhaseFirstSeenSeconds: r.phaseSeenAt,
    peakRssMbDynalite: r.peakRssMb.dynalite,
    requestsMatch: r.requests.match,
    requestsIngest: r.requests.ingest,
    s3RequestsPerMillionRows: perMillion(matchS3),
    dynamoRequestsPerMillionRows: perMillion(matchDynamo),
  };
  const s = (x: number | undefined) => `${round(x ?? 0, 1)} s`;
  const phases = Object.entries(r.phaseSeenAt)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const checks: Check[] = [
    check(
      'end-to-end',
      `match ${human(sizes.listRows)} emails vs ${human(r.memberships)} memberships, CLI to downloaded result`,
      `${r.status}, ${s(r.seconds.listToResult)} (hash+upload ${s(r.seconds.hashAndUpload)}, match ${s(r.seconds.match)}, download ${Math.round(r.seconds.downloadMs ?? 0)} ms)`,
      'info',
      r.status === 'SUCCEEDED' ? null : false,
    ),
    check(
      'end-to-end',
      'match record phases, first seen at (s after POST /v1/matches)',
      phases,
      'info',
      null,
    ),
    check(
      'end-to-end',
      'peak RSS: the stack process (API, handlers, shard threads), dynalite',
      `${r.peakRssMb.process} MB, ${r.peakRssMb.dynalite ?? '?'} MB`,
      'info',
      null,
    ),
    check(
      'end-to-end',
      'requests per million list rows (match, from list upload to download)',
      `S3 ${human(perMillion(matchS3))}, DynamoDB ${human(perMillion(matchDynamo))}`,
      'info',
      null,
    ),
    check(
      'end-to-end',
      `partner ingest of ${human(r.memberships)} memberships (setup, not the figure)`,
      `${s(r.seconds.ingest)}; S3 ${human(sum(r.requests.ingest, 's3 '))}, DynamoDB ${human(sum(r.requests.ingest, 'dynamodb '))} requests`,
      'info',
      null,
    ),
  ];
  return {
    rows: [row],
    checks,
    notes: [
      `end-to-end: ${human(sizes.members)} partner members in ${sizes.segments} segments (${human(r.memberships)} memberships), a list of ${human(sizes.listRows)} distinct emails of which ${human(Math.min(sizes.listRows, sizes.members - Math.floor(sizes.members / 2)))} are members; embedded stack in a child process with default settings (noise on, default shard count and workers), requests counted by proxies in front of s3rver and dynalite. Phase times are when the CLI's polls (100 ms growing to 1 s) first saw each phase.`,
    ],
  };
}

const isEntry = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry && process.argv[2] === '--child') {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const sizes = JSON.parse(process.argv[3] ?? '{}') as EndToEndSizes;
  child(sizes).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
