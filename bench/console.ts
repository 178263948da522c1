/**
 * Web console benchmark: the size of what a first visit downloads (minified and gzip) and the first
 * load in Debian's Chromium, from navigation to the sign-in form drawn (fresh profile each run,
 * served by the embedded stack's console server on loopback). Bars: JS < 300 KiB gzip, first load
 * < 1 s. Skipped, saying so, when /usr/bin/chromium is absent.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildConsole } from '../console/build.ts';
import { consoleFiles } from '../local/console-server.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/browser/browser.ts';
import { type BenchOutput, check, round } from './table.ts';

export const CONSOLE_GZIP_BAR = 300 * 1024;
export const FIRST_LOAD_MS_BAR = 1000;
const RUNS = 5;

export async function benchConsole(): Promise<BenchOutput> {
  const assets = await buildConsole();
  const bytes = [...assets.values()].reduce((n, a) => n + a.body.length, 0);
  const gzip = [...assets.values()].reduce((n, a) => n + gzipSync(a.body).length, 0);
  const js = assets.get('/console/app.js')?.body.length ?? 0;
  const checks = [
    check(
      'console',
      'console first-visit download (page, CSS, JS)',
      `${round(bytes / 1024, 1)} KiB, ${round(gzip / 1024, 1)} KiB gzip (JS ${round(js / 1024, 1)} KiB)`,
      '< 300 KiB gzip',
      gzip < CONSOLE_GZIP_BAR,
    ),
  ];
  const rows = [
    {
      name: 'console bundle',
      rows: 1,
      seconds: 0,
      rowsPerSecond: 0,
      ratioToBaseline: null as number | null,
      peakRssMb: 0,
      bytes,
      gzip,
    },
  ];
  if (!existsSync(CHROMIUM)) {
    checks.push(
      check('console', 'console first load in Chromium', 'skipped: no /usr/bin/chromium', '< 1 s', null),
    );
    return {
      rows,
      checks,
      notes: ['console: first load skipped, /usr/bin/chromium is absent (apt-get install chromium).'],
    };
  }
  const files = consoleFiles(assets, 'http://127.0.0.1:1');
  const server = createServer((req, res) => {
    const file = files(req.method ?? 'GET', (req.url ?? '/').split('?')[0]?.replace(/\/+$/, '') ?? '');
    res.writeHead(file?.status ?? 404, file?.headers ?? {});
    res.end(file?.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  const times: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'onboard-bench-chromium-'));
      const context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM,
        headless: true,
        args: [...CHROMIUM_ARGS],
      });
      try {
        const page = await context.newPage();
        const t0 = performance.now();
        await page.goto(url);
        await page.getByLabel('Dev token').waitFor();
        times.push(performance.now() - t0);
      } finally {
        await context.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    server.close();
  }
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
  checks.push(
    check(
      'console',
      'console first load in Chromium (navigation to sign-in form, median of 5)',
      `${round(median, 0)} ms`,
      '< 1 s',
      median < FIRST_LOAD_MS_BAR,
    ),
  );
  rows.push({
    name: 'console first load',
    rows: 1,
    seconds: median / 1000,
    rowsPerSecond: 1000 / median,
    ratioToBaseline: round(median / FIRST_LOAD_MS_BAR, 2),
    peakRssMb: 0,
    bytes,
    gzip,
  });
  return {
    rows,
    checks,
    notes: [
      'console: first load = fresh Chromium profile, loopback server, from goto() to the sign-in form rendered (config fetched, app booted).',
    ],
  };
}
