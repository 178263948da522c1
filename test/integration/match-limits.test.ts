/**
 * The limits around starting a match, through the HTTP API of the embedded stack: a tenant may have
 * at most MAX_RUNNING_MATCHES matches in flight (429 too-many-running-matches past it; matches older
 * than the match timeout are dead and do not count), and a list past its upload's lifetime reads
 * EXPIRED, not READY, and cannot be matched (410 list-expired).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personEmail } from '../../local/synthetic-data.ts';
import { DynamoJobStore } from '../../shared/adapters/dynamodb/job-store.ts';
import { timeOrderedId } from '../../shared/domain/ids.ts';
import type { MatchRecord } from '../../shared/domain/jobs.ts';
import { BUCKETS, MATCH_TIMEOUT_SECONDS } from '../../shared/infra/definitions.ts';
import {
  exactCountScenario,
  http,
  putTo,
  type RawResponse,
  seedPartner,
  sha256Hex,
  startTestStack,
  type TestStack,
} from './helpers.ts';

const PARTNER = 'lim-partner';
const LIMIT = 2;

let t: TestStack;
let dynamodb: DynamoDBClient;
let jobs: DynamoJobStore;

const scenario = exactCountScenario({
  base: 0,
  listSize: 150,
  segments: [{ segmentId: 'lim-a', listMatches: 80, others: 40 }],
});

beforeAll(async () => {
  t = await startTestStack({
    MIN_LIST_SIZE: '100',
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MAX_RUNNING_MATCHES: String(LIMIT),
  });
  dynamodb = new DynamoDBClient({
    endpoint: t.stack.env.AWS_ENDPOINT_URL_DYNAMODB,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
  });
  jobs = new DynamoJobStore(dynamodb, t.stack.env.JOBS_TABLE as string);
  const report = await seedPartner(t.client(PARTNER, 'partner'), PARTNER, scenario.segments);
  expect(report.status).toBe('SUCCEEDED');
});

afterAll(async () => {
  dynamodb?.destroy();
  await t?.stop();
});

function expectProblem(res: RawResponse, status: number, code: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.contentType).toBe('application/problem+json');
  expect(res.json).toMatchObject({ status, code, type: expect.stringContaining(code) });
}

async function readyList(token: string): Promise<string> {
  const created = await http(t, 'POST', '/v1/lists', {
    token,
    body: { format: 'hashed', profile: 'google', kind: 'email' },
  });
  expect(created.status).toBe(201);
  const lines = scenario.listPeople.map((n) => sha256Hex(personEmail(n)));
  expect(await putTo(created.json.upload, `${lines.join('\n')}\n`)).toBe(200);
  return created.json.listId;
}

/** A match record left in flight (as a long match would be), written straight into the Jobs table. */
async function inFlight(tenantId: string, createdAt: Date, status: MatchRecord['status'] = 'RUNNING') {
  await jobs.create({
    kind: 'match',
    tenantId,
    matchId: timeOrderedId(createdAt, crypto.randomUUID()),
    listId: 'elsewhere',
    partnerId: PARTNER,
    minSegmentSize: 50,
    status,
    progress: { phase: 'matching', shardsDone: 0, shardsTotal: 4 },
    createdAt: createdAt.toISOString(),
    updatedAt: createdAt.toISOString(),
  });
}

describe('running matches per tenant', () => {
  it(`refuses a match with 429 too-many-running-matches while ${LIMIT} are in flight`, async () => {
    const tenant = 'lim-busy';
    const token = t.token(tenant, 'advertiser');
    const listId = await readyList(token);
    await inFlight(tenant, new Date(Date.now() - 60_000), 'QUEUED');
    await inFlight(tenant, new Date(Date.now() - 30_000), 'RUNNING');
    // Dead ones do not count: finished, or older than the match timeout.
    await inFlight(tenant, new Date(Date.now() - 20_000), 'SUCCEEDED');
    await inFlight(tenant, new Date(Date.now() - (MATCH_TIMEOUT_SECONDS + 60) * 1000), 'RUNNING');
    const refused = await http(t, 'POST', '/v1/matches', { token, body: { listId, partnerId: PARTNER } });
    expectProblem(refused, 429, 'too-many-running-matches');
    expect(refused.json.detail).toContain(`at most ${LIMIT}`);
    // Another tenant is not held back.
    const otherToken = t.token('lim-idle', 'advertiser');
    const other = await http(t, 'POST', '/v1/matches', {
      token: otherToken,
      body: { listId: await readyList(otherToken), partnerId: PARTNER },
    });
    expect(other.status, other.text).toBe(202);
    await t.stack.idle();
  });

  it('starts a match while fewer than the limit are in flight', async () => {
    const tenant = 'lim-one';
    const token = t.token(tenant, 'advertiser');
    const listId = await readyList(token);
    await inFlight(tenant, new Date(Date.now() - 30_000), 'RUNNING');
    const started = await http(t, 'POST', '/v1/matches', { token, body: { listId, partnerId: PARTNER } });
    expect(started.status, started.text).toBe(202);
    await t.stack.idle();
  });
});

describe('list lifetime', () => {
  it(`reads EXPIRED once past the uploads' ${BUCKETS.uploads.expireAfterDays}-day lifecycle, and a match on it is 410 list-expired`, async () => {
    const token = t.token('lim-expiry', 'advertiser');
    const listId = await readyList(token);
    const before = await http(t, 'GET', `/v1/lists/${listId}`, { token });
    expect(before.json.status).toBe('AWAITING_UPLOAD');
    // Age the record past the lifetime (the object's lifecycle expiry counts from its upload,
    // which is never earlier than the record's creation).
    const aged = new Date(Date.now() - (BUCKETS.uploads.expireAfterDays * 86_400 + 60) * 1000).toISOString();
    expect(await jobs.update('list', 'lim-expiry', listId, { createdAt: aged })).toBe(true);
    const after = await http(t, 'GET', `/v1/lists/${listId}`, { token });
    expect(after.status).toBe(200);
    expect(after.json.status).toBe('EXPIRED');
    expectProblem(
      await http(t, 'POST', '/v1/matches', { token, body: { listId, partnerId: PARTNER } }),
      410,
      'list-expired',
    );
  });
});
