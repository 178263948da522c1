/**
 * The ingest bench's child process: starts the embedded stack (s3rver in this process, dynalite in
 * its own), declares 50 segments for a partner, PUTs the members file through the presigned URL,
 * waits for the ingest through the real S3 event and handlers, and prints one JSON line: the
 * ingest report's counts, its step timings and this process's peak RSS.
 *
 * The upload comes from another process, as it does from a partner's machine: an uploader in this
 * process would count its own buffers (fetch keeps a streamed request body alive) in the stack's RSS.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peakRssMb } from './bench-row.ts';

const file = process.argv[2] as string;
const segments = Number(process.argv[3] ?? 50);
const steps: { step: string; ms: number; item?: number; rows?: number; items?: number }[] = [];
// Step timings come from the ingest's own debug log lines.
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  for (const line of text.split('\n')) {
    if (!line.includes('ingest: step done')) continue;
    try {
      const { step, ms, item, rows, items } = JSON.parse(line) as (typeof steps)[number];
      steps.push({ step, ms, item, rows, items });
    } catch {}
  }
  return true;
}) as typeof process.stdout.write;

/** PUTs a file to a presigned URL from a child Node process, streaming it (node:http, no buffering). */
function putFromAnotherProcess(url: string, headers: Record<string, string>, path: string): Promise<void> {
  const script = `
    const { createReadStream, statSync } = require('node:fs');
    const { request } = require('node:http');
    const [url, headers, path] = [process.argv[1], JSON.parse(process.argv[2]), process.argv[3]];
    const req = request(url, { method: 'PUT', headers: { ...headers, 'content-length': statSync(path).size } }, (res) => {
      res.resume();
      res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1));
    });
    req.on('error', () => process.exit(2));
    createReadStream(path).pipe(req);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, url, JSON.stringify(headers), path], {
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the upload exited ${code}`))));
  });
}

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
  await putFromAnotherProcess(created.upload.url, created.upload.headers, file);
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
      maxRssMb: Math.round(peakRssMb()),
      cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    })}\n`,
  );
} finally {
  await stack.stop();
  await rm(dataDir, { recursive: true, force: true });
}
