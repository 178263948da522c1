/**
 * The files in examples/ (a partner members file with its segments, a Google Customer Match export
 * and a French CRM export) run through the embedded stack as the README's walkthrough runs them,
 * with noise off so the counts are exact.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMatch, uploadPartnerAudience } from '../../cli/flows.ts';
import { bySegment, range, startTestStack, type TestStack } from './helpers.ts';

const PARTNER = 'northwind-data';
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: '20',
  });
  const report = await uploadPartnerAudience(t.client(PARTNER, 'partner'), {
    partnerId: PARTNER,
    profile: 'google',
    segments: JSON.parse(readFileSync('examples/partner-segments.json', 'utf8')),
    source: { file: 'examples/partner-members.csv' },
  });
  expect(report).toMatchObject({ status: 'SUCCEEDED', report: { rowsRead: 500, rejected: 0 } });
});

afterAll(async () => {
  await t?.stop();
});

describe('examples/', () => {
  it('customer-match.csv matches on email or phone, each partner person once', async () => {
    const { match } = await runMatch(t.client('acme-retail', 'advertiser'), {
      partnerId: PARTNER,
      list: { file: 'examples/customer-match.csv' },
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    // People 0..179 (by email, phone or both) and 350..369 (phone only); 30 strangers.
    expect(match.result).toMatchObject({ matched: 200, list: { rows: 230, distinct: 230 } });
    expect(bySegment(match).runners?.matched).toBe(180);
    expect(bySegment(match).gardeners?.matched).toBe(50);
    expect(match.result?.byKind?.map((k) => [k.kind, k.matched])).toEqual([
      ['email', 120],
      ['phone', 140],
    ]);
  });

  it('crm-export-fr.csv (Courriel;Téléphone) is read by its French headers', async () => {
    const { match } = await runMatch(t.client('acme-fr', 'advertiser'), {
      partnerId: PARTNER,
      list: { file: 'examples/crm-export-fr.csv' },
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    const withEmail = (n: number) => n % 3 !== 0;
    const withPhone = (n: number) => n < 300 && n % 2 === 0;
    const people = range(200, 140).filter((n) => withEmail(n) || withPhone(n));
    expect(match.result?.list).toMatchObject({ rows: 140, valid: people.length });
    expect(match.result?.matched).toBe(people.length);
    expect(bySegment(match).runners?.matched).toBe(people.filter((n) => n < 250).length);
    expect(bySegment(match).gardeners?.matched).toBe(people.length);
  });
});
