/**
 * No silent harm from a members file: a file that accepts nothing, or rejects more rows than its
 * upload allows (default 10 %), fails with its report and leaves the live segments untouched; a
 * dry run reports and changes nothing. The issue's case: 1,500 + 1,500 members must not become
 * 0 + 0 because every row of a new file was rejected.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestReportView } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { http, listKeys, putTo, range, seedPartner, startTestStack, type TestStack } from './helpers.ts';

const PARTNER = 'gate-partner';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({ UNSAFE_NOISE_OFF_FOR_TESTS: 'true', MIN_SEGMENT_SIZE: '20', SHARD_COUNT: '4' });
  const report = await seedPartner(t.client(PARTNER, 'partner'), PARTNER, [
    { segmentId: 'a', name: 'A', people: range(0, 1_500) },
    { segmentId: 'b', name: 'B', people: range(10_000, 1_500) },
  ]);
  expect(report.status).toBe('SUCCEEDED');
});

afterAll(async () => {
  await t?.stop();
});

/** Declares segments a and b, PUTs the file, waits for its report. */
async function ingest(csv: string, options: { maxRejectedShare?: number; dryRun?: boolean } = {}) {
  const token = t.token(PARTNER, 'partner');
  const created = await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
    token,
    body: {
      profile: 'google',
      segments: [
        { segmentId: 'a', name: 'A' },
        { segmentId: 'b', name: 'B' },
      ],
      ...options,
    },
  });
  expect(created.status, created.text).toBe(201);
  expect(await putTo(created.json.upload, csv)).toBe(200);
  await t.stack.idle();
  return t
    .client(PARTNER, 'partner')
    .get<IngestReportView & { report?: { dryRun?: boolean } }>(
      `/v1/partners/${PARTNER}/audiences/${created.json.audienceId}`,
    );
}

const sizes = async () => {
  const { partners } = await t
    .client('gate-reader', 'advertiser')
    .get<{ partners: { partnerId: string; segments: { segmentId: string; size: number | null }[] }[] }>(
      '/v1/partners',
    );
  return Object.fromEntries(
    (partners.find((p) => p.partnerId === PARTNER)?.segments ?? []).map((s) => [s.segmentId, s.size]),
  );
};

/** 100 rows: `bad` of them with a broken hash, the others valid members of a or b. */
const membersFile = (bad: number) =>
  `email_sha256,segment_id\n${range(0, 100)
    .map((n) => (n < bad ? `not-a-hash-${n},a` : `${sha(personEmail(20_000 + n))},${n % 2 ? 'a' : 'b'}`))
    .join('\n')}\n`;

describe('the ingest gate', () => {
  it('a file whose every row is rejected fails with its report; 1,500 + 1,500 members stay', async () => {
    const before = await sizes();
    expect(before).toEqual({ a: 1500, b: 1500 });
    const view = await ingest(membersFile(100));
    expect(view).toMatchObject({ status: 'FAILED', code: 'ingest-rejected' });
    expect(view.detail).toMatch(/No row of the file was accepted/);
    expect(view.report).toMatchObject({ rowsRead: 100, accepted: 0, rejected: 100 });
    expect(await sizes()).toEqual(before);
    expect(await listKeys(t, 'PARTNER_DROPS_BUCKET', 'audiences/')).toEqual([]);
  });

  it('rejecting more than 10 % fails by default and changes nothing; a declared 30 % lets it through', async () => {
    const refused = await ingest(membersFile(20));
    expect(refused).toMatchObject({ status: 'FAILED', code: 'ingest-rejected' });
    expect(refused.detail).toMatch(/20 of 100 rows were rejected \(20\.0 %\), more than the 10\.0 %/);
    expect(await sizes()).toEqual({ a: 1500, b: 1500 });
    const allowed = await ingest(membersFile(20), { maxRejectedShare: 0.3 });
    expect(allowed).toMatchObject({ status: 'SUCCEEDED' });
    expect(allowed.report).toMatchObject({ rowsRead: 100, accepted: 80, rejected: 20 });
    expect(await sizes()).toEqual({ a: 40, b: 40 });
  });

  it('a dry run reports the counts and changes nothing', async () => {
    const before = await sizes();
    const view = await ingest(membersFile(5), { dryRun: true });
    expect(view).toMatchObject({ status: 'SUCCEEDED', report: { dryRun: true, accepted: 95, rejected: 5 } });
    expect(view.report?.segments).toEqual([
      { segmentId: 'a', members: 48, version: 0 },
      { segmentId: 'b', members: 47, version: 0 },
    ]);
    expect(await sizes()).toEqual(before);
  });
});
