/**
 * The whole flow through the HTTP API of the embedded stack: partner upload with an ingest report,
 * the catalog, an advertiser match (hashed locally), its listing, status and downloads (CSV and
 * JSON through presigned URLs), the raw-list path (raw object deleted), a segment replaced by a new
 * file, the OpenAPI document and the health check.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/api-client.ts';
import { downloadFrom } from '../../cli/api-client.ts';
import { type MatchView, runMatch, uploadPartnerAudience } from '../../cli/flows.ts';
import { partnerMembers, personEmail, type SegmentSpec } from '../../local/synthetic-data.ts';
import { ROUTES } from '../../shared/api/routes.ts';
import { CSV_COLUMNS } from '../../shared/domain/result/render-csv.ts';
import { http, listKeys, range, sha256Hex, startTestStack, type TestStack } from './helpers.ts';

const PARTNER = 'northwind-data';
const ADVERTISER = 'acme-retail';
const K = 50;

const FORMULA_NAME = '=HYPERLINK("http://evil.example","click")';
const SEGMENTS: readonly SegmentSpec[] = [
  { segmentId: 'auto-intenders', name: 'Auto intenders', description: 'Researched cars', rate: 0.3 },
  { segmentId: 'outdoor', name: 'Outdoor enthusiasts', description: 'Hiking and camping', rate: 0.2 },
  { segmentId: 'formula', name: FORMULA_NAME, description: 'A hostile segment name', rate: 0.15 },
  { segmentId: 'tiny', name: '@tiny niche', description: 'Under k for any list here', rate: 0.005 },
];
const BASE_SIZE = 2400;

/** Members per segment as the partner file holds them (hash -> segments). */
function membership(csv: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of csv.trim().split('\n').slice(1)) {
    const [hash, segment] = line.split(',') as [string, string];
    const set = out.get(hash) ?? new Set<string>();
    set.add(segment);
    out.set(hash, set);
  }
  return out;
}

/** The list: people 1500..3499 (half in the partner base), some messy, two invalid, one duplicate. */
const LIST_PEOPLE = range(1500, 2000);
const LIST_TEXT = `${[
  ...LIST_PEOPLE.map((n, i) => (i % 10 === 0 ? `  ${personEmail(n).toUpperCase()} ` : personEmail(n))),
  'not-an-email',
  'jane@',
  personEmail(1500),
].join('\n')}\n`;

function expectedCounts(members: Map<string, Set<string>>) {
  const perSegment: Record<string, number> = Object.fromEntries(SEGMENTS.map((s) => [s.segmentId, 0]));
  let total = 0;
  for (const n of LIST_PEOPLE) {
    const segs = members.get(sha256Hex(personEmail(n)));
    if (!segs) continue;
    total++;
    for (const s of segs) perSegment[s] = (perSegment[s] ?? 0) + 1;
  }
  return { perSegment, total };
}

let t: TestStack;
let partner: ApiClient;
let advertiser: ApiClient;
const partnerData = partnerMembers(sha256Hex, {
  baseStart: 0,
  baseSize: BASE_SIZE,
  seed: 5,
  segments: SEGMENTS,
});
const members = membership(partnerData.csv);
const expected = expectedCounts(members);
const segmentSizes = Object.fromEntries(
  SEGMENTS.map((s) => [s.segmentId, [...members.values()].filter((set) => set.has(s.segmentId)).length]),
);

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    SHARD_COUNT: '4',
    RETIRE_GRACE_SECONDS: '0',
  });
  partner = t.client(PARTNER, 'partner');
  advertiser = t.client(ADVERTISER, 'advertiser');
});

afterAll(async () => {
  await t?.stop();
});

/** A catalog size as published with the noise off: rounded half up to 10, and no size under k. */
function published(size: number): number | null {
  const rounded = Math.floor(size / 10 + 0.5) * 10;
  return size < K || rounded < K ? null : rounded;
}

describe('whole flow over HTTP', () => {
  let hashedMatch: MatchView;

  it('GET /v1/health answers without a token', async () => {
    const res = await http(t, 'GET', '/v1/health');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'ok', service: 'onboard' });
    expect(Number.isNaN(Date.parse(res.json.time))).toBe(false);
  });

  it('GET /v1/openapi.json is an OpenAPI 3.1 document listing every route', async () => {
    const res = await http(t, 'GET', '/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^application\/json/);
    const doc = res.json;
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info?.title).toEqual(expect.any(String));
    expect(doc.info?.version).toEqual(expect.any(String));
    expect(doc.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const route of ROUTES) {
      const op = doc.paths?.[route.path]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      expect(
        op.responses?.[String(route.status)],
        `${route.method} ${route.path} ${route.status}`,
      ).toBeDefined();
      for (const name of [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
        expect(
          op.parameters?.some((p: { name: string; in: string }) => p.name === name && p.in === 'path'),
        ).toBe(true);
      }
      if (route.body) expect(op.requestBody?.content?.['application/json']?.schema).toBeDefined();
      if (route.roles) expect(op.security).toEqual([{ bearer: [] }]);
    }
  });

  it('a partner uploads an audience file and gets an ingest report with rejected rows by rule', async () => {
    const dataRows = partnerData.memberships;
    const bad = [
      'not-a-hash,auto-intenders', // invalid hash
      `${sha256Hex('stranger@example.com')},no-such-segment`, // segment not declared
      `${sha256Hex('nobody@example.com')},`, // missing segment
    ];
    const report = await uploadPartnerAudience(partner, {
      partnerId: PARTNER,
      profile: 'google',
      segments: SEGMENTS.map(({ segmentId, name, description }) => ({ segmentId, name, description })),
      source: { text: `${partnerData.csv}${bad.join('\n')}\n` },
    });
    expect(report.status).toBe('SUCCEEDED');
    expect(report.report).toBeDefined();
    const r = report.report as NonNullable<typeof report.report>;
    expect(r.rowsRead).toBe(dataRows + 3);
    expect(r.accepted).toBe(dataRows);
    expect(r.rejected).toBe(3);
    expect(r.duplicates).toBe(0);
    expect(r.rejectedByRule).toEqual({
      'invalid-hash': { count: 1, rows: [dataRows + 1] },
      'unknown-segment': { count: 1, rows: [dataRows + 2] },
      'missing-segment': { count: 1, rows: [dataRows + 3] },
    });
    expect(Object.fromEntries(r.segments.map((s) => [s.segmentId, s.members]))).toEqual(segmentSizes);
    // The drop does not stay at rest.
    expect(await listKeys(t, 'PARTNER_DROPS_BUCKET', `audiences/${PARTNER}/`)).toEqual([]);
  });

  it('GET /v1/partners shows the catalog with names, descriptions and sizes (for advertisers too)', async () => {
    const { partners } = await advertiser.get<{
      partners: {
        partnerId: string;
        profile: string;
        baseSize: number;
        segments: { segmentId: string; name: string; description: string; size: number }[];
      }[];
    }>('/v1/partners');
    const p = partners.find((x) => x.partnerId === PARTNER);
    expect(p).toBeDefined();
    expect(p?.profile).toBe('google');
    // Published sizes (noise off here): rounded to 10, and none under k.
    expect(p?.baseSize).toBe(published(partnerData.members));
    expect(Object.fromEntries((p?.segments ?? []).map((s) => [s.segmentId, s.size]))).toEqual(
      Object.fromEntries(Object.entries(segmentSizes).map(([id, n]) => [id, published(n)])),
    );
    const formula = p?.segments.find((s) => s.segmentId === 'formula');
    expect(formula).toMatchObject({ name: FORMULA_NAME, description: 'A hostile segment name' });
  });

  it('an advertiser hashes locally, matches, and gets exact counts with noise off', async () => {
    const { match, listSummary } = await runMatch(advertiser, {
      partnerId: PARTNER,
      list: { text: LIST_TEXT },
      quiet: true,
    });
    hashedMatch = match;
    expect(match.status).toBe('SUCCEEDED');
    expect(listSummary).toMatchObject({ rows: 2003, valid: 2001, invalid: 2, duplicates: 1, distinct: 2000 });
    const result = match.result as NonNullable<MatchView['result']>;
    expect(result.list).toMatchObject({ rows: 2003, valid: 2001, invalid: 2, duplicates: 1, distinct: 2000 });
    expect(result.privacy).toMatchObject({
      k: K,
      noise: { mechanism: 'none', rho: 0 },
      rounding: 'none',
      budget: null,
    });
    expect(result.partner).toEqual({ partnerId: PARTNER, profile: 'google' });
    for (const s of SEGMENTS) {
      const seg = result.segments.find((x) => x.segmentId === s.segmentId);
      const want = expected.perSegment[s.segmentId] as number;
      if (want >= K) {
        expect(seg, s.segmentId).toMatchObject({ name: s.name, matched: want, suppressed: false });
      } else {
        expect(seg, s.segmentId).toMatchObject({
          matched: null,
          suppressed: true,
          reason: 'below-k',
          share: null,
          affinity: null,
        });
      }
    }
    // Sanity of the fixture: the tiny segment is suppressed and the other three are released.
    expect(expected.perSegment.tiny).toBeLessThan(K);
    expect(result.segments.filter((s) => s.suppressed).map((s) => s.segmentId)).toEqual(['tiny']);
    // Overlapping segments: total − released is negative, so the total is safe to release.
    expect(result.matched).toBe(expected.total);
    const auto = result.segments.find((s) => s.segmentId === 'auto-intenders');
    expect(auto?.share).toBeCloseTo((expected.perSegment['auto-intenders'] as number) / expected.total, 3);
    expect(auto?.affinity).toEqual(expect.any(Number));
  });

  it('GET /v1/matches lists the match (without the result); GET /v1/matches/{id} has result and progress 100', async () => {
    const { matches } = await advertiser.get<{ matches: Record<string, unknown>[] }>('/v1/matches');
    const listed = matches.find((m) => m.matchId === hashedMatch.matchId);
    expect(listed).toMatchObject({
      matchId: hashedMatch.matchId,
      partnerId: PARTNER,
      status: 'SUCCEEDED',
      minSegmentSize: K,
    });
    expect(listed).not.toHaveProperty('result');

    const one = await advertiser.get<MatchView & { minSegmentSize: number }>(
      `/v1/matches/${hashedMatch.matchId}`,
    );
    expect(one.status).toBe('SUCCEEDED');
    expect(one.progress).toMatchObject({ percent: 100, phase: 'done' });
    expect(one.progress.shardsDone).toBe(one.progress.shardsTotal);
    expect(one.progress.shardsTotal).toBeGreaterThan(0);
    expect(one.progress.shardsTotal).toBeLessThanOrEqual(4);
    expect(one.result).toEqual(hashedMatch.result);
  });

  it('downloads the JSON and CSV through presigned URLs; CSV formula cells are neutralized', async () => {
    const json = await advertiser.get<{ url: string; format: string; expiresAt: string }>(
      `/v1/matches/${hashedMatch.matchId}/download?format=json`,
    );
    expect(json.format).toBe('json');
    expect(new URL(json.url).searchParams.get('X-Amz-Expires')).toBe('300');
    expect(JSON.parse(await downloadFrom(json.url))).toEqual(hashedMatch.result);

    // Default format is CSV.
    const csv = await advertiser.get<{ url: string; format: string }>(
      `/v1/matches/${hashedMatch.matchId}/download`,
    );
    expect(csv.format).toBe('csv');
    const res = await fetch(csv.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="audience-[A-Za-z0-9._-]+\.csv"$/,
    );
    const bytes = Buffer.from(await res.arrayBuffer());
    // A UTF-8 byte order mark first, so spreadsheets read non-ASCII names right.
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    expect(text).toContain('\r\n');
    const rows = parseCsv(text, { relax_column_count: false }) as string[][];
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    // One tidy table: a row per segment and nothing else (the summary is in the JSON).
    expect(rows).toHaveLength(1 + SEGMENTS.length);
    const segRows = Object.fromEntries(rows.slice(1).map((r) => [r[0], r]));
    expect(segRows.formula?.[1]).toBe(`'${FORMULA_NAME}`);
    expect(segRows.tiny?.[1]).toBe("'@tiny niche");
    for (const s of hashedMatch.result?.segments ?? []) {
      expect(segRows[s.segmentId]?.[2]).toBe(s.matched === null ? '' : String(s.matched));
      expect(segRows[s.segmentId]?.[3]).toBe(String(s.suppressed));
      if (s.suppressed) expect(segRows[s.segmentId]?.[8]).toMatch(/fewer than k = \d+ people/);
    }
    // No cell anywhere starts like a formula.
    for (const row of rows) for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  });

  it('a raw list is hashed server-side, the raw object is deleted, and the result is the same', async () => {
    const { match } = await runMatch(advertiser, {
      partnerId: PARTNER,
      list: { text: LIST_TEXT },
      raw: true,
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    // Nothing raw at rest: the raw/ prefix of the uploads bucket is empty.
    expect(await listKeys(t, 'UPLOADS_BUCKET', 'raw/')).toEqual([]);
    const list = await advertiser.get<{ status: string; format: string; summary: Record<string, unknown> }>(
      `/v1/lists/${match.listId}`,
    );
    expect(list).toMatchObject({ status: 'READY', format: 'raw' });
    expect(list.summary).toMatchObject({ rows: 2003, valid: 2001, invalid: 2 });
    expect(match.result?.matched).toBe(hashedMatch.result?.matched);
    expect(match.result?.segments.map((s) => [s.segmentId, s.matched, s.reason])).toEqual(
      hashedMatch.result?.segments.map((s) => [s.segmentId, s.matched, s.reason]),
    );
    expect(match.result?.list).toMatchObject({
      rows: 2003,
      valid: 2001,
      invalid: 2,
      duplicates: 1,
      distinct: 2000,
    });
  });

  it('a new file for one segment replaces it; the other segments are untouched', async () => {
    // New outdoor members: the even people of 1000..2999 (750 of them are in the list).
    const newOutdoor = range(1000, 2000).filter((n) => n % 2 === 0);
    const report = await uploadPartnerAudience(partner, {
      partnerId: PARTNER,
      profile: 'google',
      segments: [{ segmentId: 'outdoor', name: 'Outdoor enthusiasts (v2)', description: 'Refreshed' }],
      source: {
        text: `sha256,segment_id\n${newOutdoor.map((n) => `${sha256Hex(personEmail(n))},outdoor`).join('\n')}\n`,
      },
    });
    expect(report.status).toBe('SUCCEEDED');
    expect(report.report?.segments).toEqual([
      { segmentId: 'outdoor', members: 1000, version: expect.any(Number) },
    ]);

    const { partners } = await advertiser.get<{
      partners: {
        partnerId: string;
        baseSize: number;
        segments: { segmentId: string; name: string; size: number }[];
      }[];
    }>('/v1/partners');
    const p = partners.find((x) => x.partnerId === PARTNER);
    const sizes = Object.fromEntries((p?.segments ?? []).map((s) => [s.segmentId, s.size]));
    expect(sizes).toEqual(
      Object.fromEntries(
        Object.entries({ ...segmentSizes, outdoor: 1000 }).map(([id, n]) => [id, published(n)]),
      ),
    );
    expect(p?.segments.find((s) => s.segmentId === 'outdoor')?.name).toBe('Outdoor enthusiasts (v2)');
    // Base: people in any other segment, plus the new outdoor members.
    const base = new Set<string>();
    for (const [hash, segs] of members) if ([...segs].some((s) => s !== 'outdoor')) base.add(hash);
    for (const n of newOutdoor) base.add(sha256Hex(personEmail(n)));
    expect(p?.baseSize).toBe(published(base.size));

    // A match now sees the new version of outdoor only, and the same counts elsewhere.
    const { match } = await runMatch(advertiser, {
      partnerId: PARTNER,
      list: { text: LIST_TEXT },
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    const after = Object.fromEntries((match.result?.segments ?? []).map((s) => [s.segmentId, s.matched]));
    expect(after.outdoor).toBe(750);
    expect(after['auto-intenders']).toBe(expected.perSegment['auto-intenders']);
    expect(after.formula).toBe(expected.perSegment.formula);
    expect(after.tiny).toBeNull();
    // Matched total: list people in any current segment.
    let total = 0;
    for (const n of LIST_PEOPLE) {
      const h = sha256Hex(personEmail(n));
      const others = [...(members.get(h) ?? [])].filter((s) => s !== 'outdoor');
      if (others.length > 0 || (n % 2 === 0 && n >= 1000 && n < 3000)) total++;
    }
    expect(match.result?.matched).toBe(total);
  });
});
