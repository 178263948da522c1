/** The job store on dynalite: pages of a tenant's records, newest first, and nobody else's. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../shared/adapters/dynamodb/job-store.ts';
import { timeOrderedId } from '../../shared/domain/ids.ts';
import type { MatchRecord } from '../../shared/domain/jobs.ts';
import { startStorage } from './helpers.ts';

let storage: Awaited<ReturnType<typeof startStorage>>;
let jobs: DynamoJobStore;

beforeAll(async () => {
  storage = await startStorage('job-store');
  jobs = new DynamoJobStore(storage.dynamodb, storage.infra.env.JOBS_TABLE as string);
});

afterAll(async () => {
  await storage?.stop();
});

function match(tenantId: string, at: Date, n: number): MatchRecord {
  return {
    kind: 'match',
    tenantId,
    matchId: timeOrderedId(at, `random-${n}`),
    listId: 'l',
    partnerId: 'p',
    minSegmentSize: 50,
    status: 'QUEUED',
    progress: { phase: 'queued', shardsDone: 0, shardsTotal: 0 },
    createdAt: at.toISOString(),
    updatedAt: at.toISOString(),
  };
}

describe('job store pages', () => {
  it("pages a tenant's matches newest first and never shows another tenant's", async () => {
    const t0 = Date.UTC(2026, 10, 1);
    // Created out of order, in two tenants.
    for (const n of [3, 0, 6, 1, 5, 2, 4]) await jobs.create(match('alpha', new Date(t0 + n * 60_000), n));
    await jobs.create(match('beta', new Date(t0 + 10 * 60_000), 99));
    const seen: string[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await jobs.list('match', 'alpha', { limit: 3, ...(cursor ? { cursor } : {}) });
      sizes.push(page.records.length);
      seen.push(...page.records.map((r) => r.matchId.split('-').slice(1).join('-')));
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toEqual([
      'random-6',
      'random-5',
      'random-4',
      'random-3',
      'random-2',
      'random-1',
      'random-0',
    ]);
    expect(sizes.slice(0, 2)).toEqual([3, 3]);
    expect((await jobs.list('match', 'beta')).records.map((r) => r.tenantId)).toEqual(['beta']);
  });
});

describe('matches in flight', () => {
  it("counts the tenant's QUEUED and RUNNING matches created since a time, nobody else's", async () => {
    const t0 = Date.UTC(2026, 10, 2);
    const at = (minutes: number) => new Date(t0 + minutes * 60_000);
    const statuses: [number, MatchRecord['status']][] = [
      [0, 'RUNNING'], // before the window
      [10, 'QUEUED'],
      [11, 'RUNNING'],
      [12, 'SUCCEEDED'],
      [13, 'FAILED'],
      [14, 'RUNNING'],
    ];
    for (const [n, status] of statuses) await jobs.create({ ...match('gamma', at(n), n), status });
    await jobs.create({ ...match('delta', at(11), 50), status: 'RUNNING' });
    expect(await jobs.countMatchesInFlight('gamma', at(5))).toBe(3);
    expect(await jobs.countMatchesInFlight('gamma', at(0))).toBe(4);
    expect(await jobs.countMatchesInFlight('gamma', at(15))).toBe(0);
    expect(await jobs.countMatchesInFlight('delta', at(0))).toBe(1);
    expect(await jobs.countMatchesInFlight('nobody', at(0))).toBe(0);
  });

  it('refuses a cursor of another kind or one it did not issue, before reading anything', async () => {
    await expect(jobs.list('match', 'alpha', { cursor: '0' })).rejects.toMatchObject({
      code: 'invalid-cursor',
    });
    const listCursor = Buffer.from('list#0abc').toString('base64url');
    await expect(jobs.list('match', 'alpha', { cursor: listCursor })).rejects.toMatchObject({
      code: 'invalid-cursor',
      status: 400,
    });
  });
});
