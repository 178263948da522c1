/**
 * The ingest bench's child process: starts the embedded stack (s3rver in this process, dynalite in
 * its own), declares 50 segments for a partner, PUTs the members file through the presigned URL,
 * waits for the ingest through the real S3 event and handlers, and prints one JSON line: the
 * ingest report's counts, its step timings and this process's peak RSS.
 */
import { createReadStream, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const file = process.argv[2] as string;
const segments = Number(process.argv[3] ?? 50);
const steps: { step: string; ms: number }[] = [];
// Step timings come from the ingest's own debug log lines.
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  for (const line of text.split('\n')) {
    if (!line.includes('ingest: step done')) continue;
    try {
      const entry = JSON.parse(line) as { step: string; ms: number };
      steps.push({ step: entry.step, ms: entry.ms });
    } catch {}
  }
  return true;
}) as typeof process.stdout.write;

const dataDir = await mkdtemp(join(tmpdir(), 'onboard-bench-ingest-'));
const { startEmbeddedStack } = await import('../local/embedded-stack.ts');
const stack = await startEmbeddedStack({
  dataDir,
  ephemeral: true,
  console: false,
  sweepEveryMs: 0,
  env: { POWERTOOLS_LOG_LEVEL: 'DEBUG', MAX_INGEST_ROWS: '20000000', UNSAFE_NOISE_OFF_FOR_TESTS: 'true' },
});
try {
  const token = stack.token('bench-partner', 'partner');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const created = (await (
    await fetch(`${stack.apiUrl}/v1/partners/bench-partner/audiences`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        profile: 'basic',
        segments: Array.from({ length: segments }, (_, i) => ({ segmentId: `s${i}`, name: `Segment ${i}` })),
      }),
    })
  ).json()) as { audienceId: string; upload: { url: string; headers: Record<string, string> } };
  const t0 = performance.now();
  const put = await fetch(created.upload.url, {
    method: 'PUT',
    headers: { ...created.upload.headers, 'content-length': String(statSync(file).size) },
    body: createReadStream(file) as unknown as BodyInit,
    duplex: 'half',
  } as RequestInit);
  if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
  const uploadSeconds = (performance.now() - t0) / 1000;
  await stack.idle();
  const seconds = (performance.now() - t0) / 1000;
  const view = (await (
    await fetch(`${stack.apiUrl}/v1/partners/bench-partner/audiences/${created.audienceId}`, { headers })
  ).json()) as { status: string; report?: { rowsRead: number; accepted: number; rejected: number } };
  process.stdout.write = write;
  write(
    `${JSON.stringify({
      status: view.status,
      report: view.report
        ? { rowsRead: view.report.rowsRead, accepted: view.report.accepted, rejected: view.report.rejected }
        : null,
      seconds,
      uploadSeconds,
      steps,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    })}\n`,
  );
} finally {
  await stack.stop();
  await rm(dataDir, { recursive: true, force: true });
}
