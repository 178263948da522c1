import { describe, expect, it } from 'vitest';
import { withFilter } from '../../bench/cost.ts';
import {
  type CostInputs,
  costInputsFromBench,
  DEFAULT_ASSUMPTIONS,
  estimateMatchCost,
  PRICES_US_EAST_1,
  s3PutsForObject,
} from '../../bench/cost-model.ts';

const FIXED: CostInputs = {
  listRows: 1_000_000,
  keysRead: 900_000,
  rruPerKey: 0.5,
  batchGetRequests: 10_000,
  batchGetLatencyMs: 16,
  lookupConcurrency: 8,
  shardCount: 16,
  shardBytes: 2_000_000,
  splitSeconds: 5,
  shardCpuSeconds: 10,
  reduceSeconds: 2,
  initSeconds: 0.5,
  splitMemoryMb: 2048,
  shardMemoryMb: 2048,
  reduceMemoryMb: 1024,
  transitionsPerMatch: 6,
  transitionsPerShard: 2,
  objectsPerShard: 3,
  jobRruPerMatch: 4,
  jobWruPerMatch: 10,
  jobRruPerShard: 1,
  jobWruPerShard: 2,
};

describe('bench cost model', () => {
  it('prices a fixed match service by service', () => {
    const c = estimateMatchCost(FIXED);
    // 900k keys x 0.5 RRU = 450k RRU at $0.125 per million.
    expect(c.quantities.rru).toBe(450_000);
    expect(c.dynamoReads).toBeCloseTo(0.05625, 10);
    // Jobs: 4 + 16 x 1 RRU, 10 + 16 x 2 WRU.
    expect(c.quantities.jobRru).toBe(20);
    expect(c.quantities.jobWru).toBe(42);
    expect(c.dynamoJobs).toBeCloseTo(20e-6 * 0.125 + 42e-6 * 0.625, 12);
    // Lambda: waits 10k / 8 x 16 ms = 20 s, so shards 30 s; GB-s = 5.5 x 2 + (30 + 8) x 2 + 2.5 x 1.
    expect(c.quantities.lambdaInvocations).toBe(18);
    expect(c.quantities.lambdaGbSeconds).toBeCloseTo(89.5, 10);
    expect(c.quantities.shardWallSecondsEach).toBeCloseTo(1.875, 10);
    expect(c.lambda).toBeCloseTo(89.5 * 0.0000133334 + 18e-6 * 0.2, 12);
    // Step Functions: 6 + 16 x 2 transitions.
    expect(c.quantities.transitions).toBe(38);
    expect(c.stepFunctions).toBeCloseTo(0.00095, 12);
    // S3: 1 list PUT + 16 shard PUTs + 32 other objects + 2 LISTs + 2 results; 1 + 48 + 1 GETs.
    expect(c.quantities.s3Puts).toBe(53);
    expect(c.quantities.s3Gets).toBe(50);
    expect(c.s3).toBeCloseTo(0.053 * 0.005 + 0.05 * 0.0004, 12);
    expect(c.total).toBeCloseTo(0.05625 + 0.00002875 + 0.0011969393 + 0.00095 + 0.000285, 9);
    expect(c.totalPerMillionRows).toBeCloseTo(c.total, 12);
  });

  it('scales per million rows and takes other prices', () => {
    const twice = estimateMatchCost({ ...FIXED, listRows: 2_000_000 });
    expect(twice.totalPerMillionRows).toBeCloseTo(twice.total / 2, 12);
    const free = Object.fromEntries(
      Object.keys(PRICES_US_EAST_1).map((k) => [k, 0]),
    ) as unknown as typeof PRICES_US_EAST_1;
    expect(estimateMatchCost(FIXED, free).total).toBe(0);
  });

  it('counts multipart uploads for shards over one part', () => {
    expect(s3PutsForObject(8 * 1024 * 1024)).toBe(1);
    expect(s3PutsForObject(20 * 1024 * 1024)).toBe(5); // create + 3 parts + complete
  });

  it('builds inputs from per-million bench measurements', () => {
    const inputs = costInputsFromBench(2_000_000, {
      getRequestsPerMillionRows: 10_000,
      keysReadPerMillionRows: 900_000,
      splitSecondsPerMillionRows: 4,
      matchSecondsPerMillionRows: 9,
      validShare: 1,
    });
    expect(inputs.keysRead).toBe(1_800_000);
    expect(inputs.batchGetRequests).toBe(20_000);
    expect(inputs.splitSeconds).toBe(8);
    expect(inputs.shardCpuSeconds).toBe(18);
    expect(inputs.shardBytes).toBe(4_000_000); // 2M rows x 32 bytes / 16 shards
    expect(inputs.shardCount).toBe(DEFAULT_ASSUMPTIONS.shardCount);
  });
});

describe('the cost with the membership filter', () => {
  const m = {
    getRequestsPerMillionRows: 10_000,
    keysReadPerMillionRows: 950_000,
    splitSecondsPerMillionRows: 5,
    matchSecondsPerMillionRows: 12,
    validShare: 0.999,
  };
  it('reads every held key and a stranger only on a false positive', () => {
    const at40 = withFilter(m, 0.4, 0.005);
    expect(at40.keysReadPerMillionRows).toBeCloseTo(950_000 * (0.4 + 0.6 * 0.005), 6);
    expect(at40.getRequestsPerMillionRows).toBeCloseTo(10_000 * (0.4 + 0.6 * 0.005), 6);
    expect(at40.splitSecondsPerMillionRows).toBe(5);
    // All held: nothing to skip; none held and a perfect filter: nothing read.
    expect(withFilter(m, 1, 0.005).keysReadPerMillionRows).toBe(950_000);
    expect(withFilter(m, 0, 0).keysReadPerMillionRows).toBe(0);
  });
  it('lowers the DynamoDB read cost in proportion, leaving the rest of the match as it was', () => {
    const without = estimateMatchCost(costInputsFromBench(1e6, m));
    const at10 = estimateMatchCost(costInputsFromBench(1e6, withFilter(m, 0.1, 0.005)));
    expect(at10.dynamoReads).toBeCloseTo(without.dynamoReads * (0.1 + 0.9 * 0.005), 9);
    expect(at10.s3).toBe(without.s3);
    expect(at10.stepFunctions).toBe(without.stepFunctions);
  });
});
