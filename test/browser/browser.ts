/**
 * Debian's Chromium driven by playwright-core for the console tests (no test tool downloads a
 * browser). `.ci/run` installs the `chromium` package when it is missing; a machine where it is
 * absent and cannot be installed (not root, no apt-get) skips the browser tests, saying why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page, type Request } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium's flags on these machines: headless, and no background networking to a closed network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The reason the browser tests cannot run here, or undefined when Chromium is there (installed if need be). */
export function chromiumUnavailable(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const root = process.getuid?.() === 0;
  if (root && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    spawnSync(
      'sh',
      ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'],
      {
        stdio: 'ignore',
        timeout: 10 * 60_000,
      },
    );
    if (existsSync(CHROMIUM)) return undefined;
  }
  return `browser tests skipped: ${CHROMIUM} is absent and could not be installed (${root ? 'apt-get install chromium failed' : 'not root'}); run .ci/run or apt-get install -y chromium`;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A persistent context on a fresh user-data-dir (removed on close). */
export async function launchChromium(): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'onboard-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SentRequest {
  method: string;
  url: string;
  body: string | null;
}

/** Records every request the page sends, with its body, from now on. */
export function recordRequests(page: Page): SentRequest[] {
  const sent: SentRequest[] = [];
  page.on('request', (r: Request) => {
    sent.push({ method: r.method(), url: r.url(), body: r.postDataBuffer()?.toString('utf8') ?? null });
  });
  return sent;
}

const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * Runs axe-core inside the page (WCAG 2.1 A and AA rules). Evaluated over the DevTools protocol,
 * which the page's CSP does not govern: the CSP stays on.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(ctx: Document, o: object): Promise<{ violations: AxeViolation[] }> };
      }
    ).axe;
    const result = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  });
}
