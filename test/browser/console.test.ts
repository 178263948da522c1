/**
 * The web console in a real browser (Debian's Chromium) against the embedded stack started in this
 * process: the whole advertiser flow with a record of every request the page sent, the partner
 * flow, an unreadable file and an exhausted budget shown as messages, screenshots of the result
 * page (test-results/, and docs/console-result.png when CONSOLE_SCREENSHOT_DOCS=1), and axe-core on
 * every page.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetView } from '../../cli/budget-notice.ts';
import { runMatch } from '../../cli/flows.ts';
import { budgetCheck } from '../../console/src/budget.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { createIdentifierHasher } from '../../shared/domain/identifiers/hash.ts';
import {
  exactCountScenario,
  range,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import {
  axeViolations,
  type Browser,
  chromiumUnavailable,
  launchChromium,
  recordRequests,
  type SentRequest,
} from './browser.ts';

const unavailable = chromiumUnavailable();
if (unavailable) process.stderr.write(`${unavailable}\n`);

const RESULTS_DIR = join(process.cwd(), 'test-results');
const PARTNER = 'northwind-data';

const scenario = exactCountScenario({
  base: 7_000,
  listSize: 1_300,
  segments: [
    { segmentId: 'auto-intenders', name: 'Auto intenders', listMatches: 420, others: 300 },
    { segmentId: 'pet-owners', name: 'Pet owners', listMatches: 260, others: 500 },
    { segmentId: 'sailing', name: 'Sailing club members', listMatches: 8, others: 40 },
  ],
});

/** A messy CRM export: mixed case, stray blanks, a name column, invalid rows and duplicates. */
const people = scenario.listPeople;
const rawEmails = people.map((n, i) => (i % 3 === 0 ? `  ${personEmail(n).toUpperCase()} ` : personEmail(n)));
const firstNames = people.map((n) => `Customer${n}`);
const crmCsv = [
  'customer_id,email,first_name',
  ...people.map((n, i) => `${n},${rawEmails[i]},${firstNames[i]}`),
  '9001,not-an-email,Broken',
  '9002,two@@example.com,Broken',
  `9003,${personEmail(people[0] as number)},Again`,
].join('\n');

const googleHasher = createIdentifierHasher({ profile: 'google', kind: 'email' });
const expectedHashes = new Set(
  people.map((n) => {
    const out = googleHasher.hash(personEmail(n));
    if (!out.ok) throw new Error('test data: invalid email');
    return out.encoded;
  }),
);

const violationsText = (v: Awaited<ReturnType<typeof axeViolations>>) =>
  v
    .map((x) => `${x.id} (${x.impact}): ${x.help} at ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`)
    .join('\n');

async function signedIn(browser: Browser, t: TestStack, tenant: string, role: 'advertiser' | 'partner') {
  const page = await browser.context.newPage();
  const sent = recordRequests(page);
  await page.goto(`${t.stack.apiUrl}/#token=${t.token(tenant, role)}`);
  await page.getByRole('heading', { level: 1 }).waitFor();
  return { page, sent };
}

async function pickList(page: Page, name: string, content: string | Buffer) {
  await page.locator('#partner option', { hasText: PARTNER }).waitFor({ state: 'attached' });
  await page.selectOption('#partner', PARTNER);
  await page.setInputFiles('#list-file', { name, mimeType: 'text/csv', buffer: Buffer.from(content) });
}

/** Nothing raw left the page: no email (as written or normalized), no other column, no list file. */
function expectNothingRaw(sent: readonly SentRequest[]) {
  const lowered = rawEmails.map((e) => e.trim().toLowerCase());
  for (const r of sent) {
    const text = `${decodeURIComponent(r.url)}\n${r.body ?? ''}`;
    for (const email of lowered)
      expect(text.toLowerCase().includes(email), `${r.method} ${r.url} carries ${email}`).toBe(false);
    for (const name of firstNames.slice(0, 50))
      expect(text.includes(name), `${r.method} ${r.url} carries a name`).toBe(false);
    expect(text.includes('@'), `${r.method} ${r.url} carries an @`).toBe(false);
  }
}

describe.skipIf(unavailable !== undefined)('web console in Chromium', () => {
  let t: TestStack;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(RESULTS_DIR, { recursive: true });
    t = await startTestStack({ RHO_PER_ADVERTISER_PARTNER: '0.02', RHO_PER_MATCH: '0.01' });
    await seedPartner(t.client(PARTNER, 'partner'), PARTNER, scenario.segments);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('serves the console at the root of the URL npm start prints, with a strict CSP, and signs in with a dev token', async () => {
    const root = await fetch(`${t.stack.apiUrl}/`);
    expect(root.status).toBe(200);
    expect(root.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await root.text()).toContain('/console/app.js');
    expect((await fetch(`${t.stack.apiUrl}/v1/health`)).status).toBe(200);
    const page = await browser.context.newPage();
    await page.goto(`${t.stack.apiUrl}/`);
    await page.getByLabel('Dev token').fill(t.token('acme-retail', 'advertiser'));
    // Keyboard only: Enter in the field submits the form.
    await page.getByLabel('Dev token').press('Enter');
    await page.getByRole('heading', { level: 1, name: /acme-retail/ }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Dev token').waitFor();
    const violations = await axeViolations(page);
    expect(violations, violationsText(violations)).toEqual([]);
    await page.close();
  });

  it('advertiser: hashes in the page, previews, uploads only hashes, matches, charts and downloads the result', async () => {
    const { page, sent } = await signedIn(browser, t, 'acme-retail', 'advertiser');
    await pickList(page, 'crm.csv', crmCsv);
    const preview = page.locator('section[aria-labelledby="preview-title"]');
    await preview.getByText('Checks before the match').waitFor();
    const previewText = await preview.textContent();
    expect(previewText).toContain('Rows1,303');
    expect(previewText).toContain('Invalid2');
    expect(previewText).toContain('Duplicates1');
    expect(previewText).toContain('Distinct1,300');
    expect(previewText).toContain('Identifier columnemail');
    expect(previewText).toContain('no @ sign');
    expect(
      sent.filter((r) => r.method !== 'GET'),
      'nothing sent before the match starts',
    ).toEqual([]);
    let violations = await axeViolations(page);
    expect(violations, violationsText(violations)).toEqual([]);

    await page.getByRole('button', { name: 'Upload hashes and start the match' }).click();
    await page.locator('#result-title').waitFor({ timeout: 90_000 });
    const result = page.locator('section.result');
    const text = (await result.textContent()) ?? '';
    expect(text).toContain('Auto intenders');
    expect(text).toContain('suppressed: fewer people than the minimum segment size (k)');
    expect(text).toMatch(/Budget left1 \(epsilon left\)|Budget left.*left/);
    expect(await result.locator('svg[role="img"] title').textContent()).toContain(PARTNER);
    await page.locator('#history tbody tr').first().waitFor();
    expect(await page.locator('#history tbody tr').count()).toBe(1);

    // Screenshots of the result page, desktop and phone width; the phone layout has no sideways scroll.
    await page.screenshot({ path: join(RESULTS_DIR, 'console-result.png'), fullPage: true });
    if (process.env.CONSOLE_SCREENSHOT_DOCS === '1')
      await result.screenshot({ path: join(process.cwd(), 'docs', 'console-result.png') });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.screenshot({ path: join(RESULTS_DIR, 'console-result-phone.png'), fullPage: true });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });
    violations = await axeViolations(page);
    expect(violations, violationsText(violations)).toEqual([]);

    // Downloads: CSV and JSON from the service, the HTML report built in the page.
    const files: Record<string, string> = {};
    for (const label of ['Download CSV', 'Download JSON', 'Download report (HTML)']) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: label }).click(),
      ]);
      files[label] = readFileSync(await download.path(), 'utf8');
    }
    expect(files['Download CSV']).toContain('"segment_id"');
    const json = JSON.parse(files['Download JSON'] as string);
    expect(json.segments.map((s: { segmentId: string }) => s.segmentId).sort()).toEqual([
      'auto-intenders',
      'pet-owners',
      'sailing',
    ]);
    const report = files['Download report (HTML)'] as string;
    expect(report).toContain('<svg');
    expect(report).toContain('Affinity index:');
    expect(report).not.toMatch(/<script|\s(src|href)=/);
    for (const s of json.segments)
      if (s.matched !== null) expect(report).toContain(s.matched.toLocaleString('en-US'));
    writeFileSync(join(RESULTS_DIR, 'console-report.html'), report);

    // Every request the page sent: only hashes of the identifier column went to the presigned upload.
    expectNothingRaw(sent);
    const puts = sent.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(1);
    expect(new URL(puts[0]?.url as string).origin).toBe(new URL(t.stack.s3Endpoint).origin);
    const lines = (puts[0]?.body ?? '').split('\n').slice(0, -1);
    expect(lines).toHaveLength(1_303);
    for (const line of lines) expect(line).toMatch(/^([0-9a-f]{64})?$/);
    expect(new Set(lines.filter(Boolean))).toEqual(expectedHashes);
    const listPost = sent.find((r) => r.method === 'POST' && r.url.endsWith('/v1/lists'));
    expect(JSON.parse(listPost?.body ?? '{}')).toMatchObject({
      format: 'hashed',
      profile: 'google',
      kind: 'email',
    });
    await page.close();
  });

  it('advertiser: an unreadable file and an exhausted budget are clear messages, and nothing is sent', async () => {
    const { page, sent } = await signedIn(browser, t, 'acme-retail', 'advertiser');
    await pickList(page, 'customers.xlsx', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x08, 0x00]));
    await expect(page.getByRole('alert').textContent()).resolves.toContain('This is not a text file');

    // Spend what is left of the budget against the partner (the CLI's own flow), then try again.
    // Each list differs from the last (an identical list is a replay, which spends nothing).
    const client = t.client('acme-retail', 'advertiser');
    for (
      let i = 1;
      i < 12 && !budgetCheck(await client.get<BudgetView>(`/v1/partners/${PARTNER}/budget`)).exhausted;
      i++
    ) {
      const list = [...people.slice(i * 10), ...range(90_000 + i * 100, 100)].map(personEmail).join('\n');
      await runMatch(client, { partnerId: PARTNER, list: { text: list }, quiet: true });
    }
    await pickList(page, 'crm.csv', crmCsv);
    const exhausted = page.locator('.checks li.fail', { hasText: 'Privacy budget exhausted' });
    await exhausted.waitFor();
    expect(await exhausted.textContent()).toContain('the operator can grant more');
    expect(await page.getByRole('button', { name: 'Upload hashes and start the match' }).isDisabled()).toBe(
      true,
    );
    expect(sent.filter((r) => r.method !== 'GET')).toEqual([]);
    await page.close();
  });

  it('partner: a raw members file is hashed in the page, ingested and reported; the catalog shows it', async () => {
    const { page, sent } = await signedIn(browser, t, 'contoso-media', 'partner');
    const members = [
      'email,segment_id',
      ...range(50_000, 120).map((n) => `${personEmail(n)},runners`),
      ...range(50_100, 80).map((n) => `${personEmail(n)},cyclists`),
      'nobody,runners',
    ].join('\n');
    await page.selectOption('#profile', 'google');
    await page.setInputFiles('#members-file', {
      name: 'members.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(members),
    });
    await page.getByText('they were hashed in this browser').waitFor();
    await page.getByLabel('Name').first().fill('Weekend runners');
    let violations = await axeViolations(page);
    expect(violations, violationsText(violations)).toEqual([]);
    await page.getByRole('button', { name: 'Upload and replace these segments' }).click();
    await page.locator('#report-title').waitFor({ timeout: 60_000 });
    const report = (await page.locator('section[aria-labelledby="report-title"]').textContent()) ?? '';
    expect(report).toContain('Rows read201');
    expect(report).toContain('Accepted200');
    expect(report).toContain('Rejected1');
    await page.locator('#catalog', { hasText: 'Weekend runners' }).waitFor();
    expect(await page.locator('#catalog').textContent()).toContain('cyclists');
    violations = await axeViolations(page);
    expect(violations, violationsText(violations)).toEqual([]);

    const put = sent.find((r) => r.method === 'PUT');
    const rows = (put?.body ?? '').split('\n').slice(0, -1);
    expect(rows[0]).toBe('sha256,segment_id');
    for (const row of rows.slice(1)) expect(row).toMatch(/^([0-9a-f]{64})?,(runners|cyclists)$/);
    for (const r of sent)
      expect(`${r.url}\n${r.body ?? ''}`.includes('@'), `${r.method} ${r.url}`).toBe(false);
    await page.close();
  });
});
