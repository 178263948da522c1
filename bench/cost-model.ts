/**
 * The AWS cost of one match, from the bench's request counts and the shard sizing (the bar:
 * "Cost per million list rows matched in AWS, written down from the bench's request counts").
 * A pure function of its inputs: prices and assumptions are named, so the arithmetic is testable
 * (test/unit/bench-cost-model.test.ts) and every number printed can be traced.
 */

/**
 * us-east-1 on-demand list prices, as of 2025-11 (DynamoDB on-demand after the November 2024 price
 * cut; Lambda Arm; Step Functions Standard; S3 Standard). Re-check before quoting to a customer.
 */
export const PRICES_US_EAST_1 = {
  /** DynamoDB on-demand: USD per million read request units. */
  dynamoReadPerMillionRru: 0.125,
  /** DynamoDB on-demand: USD per million write request units. */
  dynamoWritePerMillionWru: 0.625,
  /** Lambda on Arm (Graviton): USD per GB-second. */
  lambdaArmPerGbSecond: 0.0000133334,
  /** Lambda: USD per million requests. */
  lambdaPerMillionRequests: 0.2,
  /** Step Functions Standard: USD per 1,000 state transitions. */
  sfnStandardPerThousandTransitions: 0.025,
  /** S3 Standard: USD per 1,000 PUT, COPY, POST or LIST requests. */
  s3PutPerThousand: 0.005,
  /** S3 Standard: USD per 1,000 GET (and other) requests. */
  s3GetPerThousand: 0.0004,
} as const;

export type Prices = { readonly [K in keyof typeof PRICES_US_EAST_1]: number };

/** A BatchGetItem read of an item up to 4 KB, eventually consistent (what batchGetAll does). */
export const RRU_PER_EVENTUALLY_CONSISTENT_READ = 0.5;
/** lib-storage part size used by the S3 ObjectStore for streamed writes (shards). */
export const S3_PART_BYTES = 8 * 1024 * 1024;

export interface CostInputs {
  /** Rows of the list matched. */
  listRows: number;
  /** Keys DynamoDB reads (each distinct valid digest once; a retried leftover is read once). */
  keysRead: number;
  /** RRU per key read (0.5: eventually consistent, item <= 4 KB; a missing key is charged as a read too). */
  rruPerKey: number;
  /** BatchGetItem requests sent, retries included (for the Lambda wait only: DynamoDB bills items). */
  batchGetRequests: number;
  /** Time one BatchGetItem of 100 keys takes in AWS, in ms (assumed). */
  batchGetLatencyMs: number;
  /** BatchGetItem calls a shard keeps in flight (matchShard concurrency). */
  lookupConcurrency: number;
  shardCount: number;
  /** Bytes of one shard object (32 bytes per valid row / shardCount). */
  shardBytes: number;
  /** CPU seconds of the split step (measured by the bench). */
  splitSeconds: number;
  /** CPU seconds of all shards together, without DynamoDB waits (measured by the bench). */
  shardCpuSeconds: number;
  reduceSeconds: number;
  /** Billed init per invocation (cold start), in seconds. */
  initSeconds: number;
  splitMemoryMb: number;
  shardMemoryMb: number;
  reduceMemoryMb: number;
  /** Step Functions transitions per match outside the map (Parallel, Split, Map, Reduce, Succeed...). */
  transitionsPerMatch: number;
  /** Transitions per shard (one Standard child execution: start + the Lambda task). */
  transitionsPerShard: number;
  /** Objects written and read per shard: shard, tally, matched sets. */
  objectsPerShard: number;
  /** Job-store traffic: RRU and WRU per match, and per shard (consistent reads of the match record, updates). */
  jobRruPerMatch: number;
  jobWruPerMatch: number;
  jobRruPerShard: number;
  jobWruPerShard: number;
}

export interface CostBreakdown {
  /** USD for this match, per service. */
  dynamoReads: number;
  dynamoJobs: number;
  lambda: number;
  stepFunctions: number;
  s3: number;
  total: number;
  /** USD per million list rows (total scaled by 1e6 / listRows). */
  totalPerMillionRows: number;
  /** The quantities behind the money, for printing. */
  quantities: {
    rru: number;
    jobRru: number;
    jobWru: number;
    lambdaInvocations: number;
    lambdaGbSeconds: number;
    shardWallSecondsEach: number;
    transitions: number;
    s3Puts: number;
    s3Gets: number;
  };
}

/** S3 PUT-class requests to write one object of `bytes` through lib-storage (single PUT, or multipart). */
export function s3PutsForObject(bytes: number, partBytes = S3_PART_BYTES): number {
  if (bytes <= partBytes) return 1;
  return Math.ceil(bytes / partBytes) + 2; // CreateMultipartUpload + parts + CompleteMultipartUpload
}

export function estimateMatchCost(i: CostInputs, p: Prices = PRICES_US_EAST_1): CostBreakdown {
  const rru = i.keysRead * i.rruPerKey;
  const dynamoReads = (rru / 1e6) * p.dynamoReadPerMillionRru;

  const jobRru = i.jobRruPerMatch + i.jobRruPerShard * i.shardCount;
  const jobWru = i.jobWruPerMatch + i.jobWruPerShard * i.shardCount;
  const dynamoJobs = (jobRru / 1e6) * p.dynamoReadPerMillionRru + (jobWru / 1e6) * p.dynamoWritePerMillionWru;

  // Each shard waits for its lookups: requests / concurrency rounds of one latency each.
  const waitSecondsTotal = (i.batchGetRequests / i.lookupConcurrency) * (i.batchGetLatencyMs / 1000);
  const shardSecondsTotal = i.shardCpuSeconds + waitSecondsTotal;
  const lambdaInvocations = 1 + i.shardCount + 1;
  const lambdaGbSeconds =
    ((i.splitSeconds + i.initSeconds) * i.splitMemoryMb) / 1024 +
    ((shardSecondsTotal + i.initSeconds * i.shardCount) * i.shardMemoryMb) / 1024 +
    ((i.reduceSeconds + i.initSeconds) * i.reduceMemoryMb) / 1024;
  const lambda =
    lambdaGbSeconds * p.lambdaArmPerGbSecond + (lambdaInvocations / 1e6) * p.lambdaPerMillionRequests;

  const transitions = i.transitionsPerMatch + i.transitionsPerShard * i.shardCount;
  const stepFunctions = (transitions / 1000) * p.sfnStandardPerThousandTransitions;

  // PUT class: the list upload (one presigned PUT), the shards (multipart when over a part), the
  // other per-shard objects (tally, matched sets), 2 LISTs in reduce, 2 result files.
  const s3Puts =
    1 + i.shardCount * s3PutsForObject(i.shardBytes) + i.shardCount * (i.objectsPerShard - 1) + 2 + 2;
  // GET class: the list read by split, every per-shard object read once, the result download.
  const s3Gets = 1 + i.shardCount * i.objectsPerShard + 1;
  const s3 = (s3Puts / 1000) * p.s3PutPerThousand + (s3Gets / 1000) * p.s3GetPerThousand;

  const total = dynamoReads + dynamoJobs + lambda + stepFunctions + s3;
  return {
    dynamoReads,
    dynamoJobs,
    lambda,
    stepFunctions,
    s3,
    total,
    totalPerMillionRows: i.listRows > 0 ? (total * 1e6) / i.listRows : 0,
    quantities: {
      rru,
      jobRru,
      jobWru,
      lambdaInvocations,
      lambdaGbSeconds,
      shardWallSecondsEach: shardSecondsTotal / i.shardCount,
      transitions,
      s3Puts,
      s3Gets,
    },
  };
}

/** Defaults for what the bench cannot measure, each printed as an assumption. */
export const DEFAULT_ASSUMPTIONS = {
  batchGetLatencyMs: 15,
  lookupConcurrency: 8,
  shardCount: 16,
  reduceSeconds: 2,
  initSeconds: 0.3,
  splitMemoryMb: 2048,
  shardMemoryMb: 2048,
  reduceMemoryMb: 1024,
  transitionsPerMatch: 6,
  transitionsPerShard: 2,
  objectsPerShard: 3,
  /** Match and list records read with ConsistentRead (1 RRU per 4 KB): split 2, reduce 2. */
  jobRruPerMatch: 4,
  /** Match record updates of ~2 KB (2 WRU each): split 2, reduce 2; ledger spend and audit 1 each. */
  jobWruPerMatch: 10,
  jobRruPerShard: 1,
  jobWruPerShard: 2,
} as const;

export interface BenchMeasurementsForCost {
  /** From dynamodb-batch, per million list rows. */
  getRequestsPerMillionRows: number;
  keysReadPerMillionRows: number;
  /** From memory-10m, per million list rows. */
  splitSecondsPerMillionRows: number;
  matchSecondsPerMillionRows: number;
  /** Valid rows share (32 bytes per valid row go into shards). */
  validShare: number;
}

/** Cost inputs for a match of `listRows` rows, from the bench's per-million measurements. */
export function costInputsFromBench(
  listRows: number,
  m: BenchMeasurementsForCost,
  a = DEFAULT_ASSUMPTIONS,
): CostInputs {
  const scale = listRows / 1e6;
  return {
    listRows,
    keysRead: m.keysReadPerMillionRows * scale,
    rruPerKey: RRU_PER_EVENTUALLY_CONSISTENT_READ,
    batchGetRequests: m.getRequestsPerMillionRows * scale,
    batchGetLatencyMs: a.batchGetLatencyMs,
    lookupConcurrency: a.lookupConcurrency,
    shardCount: a.shardCount,
    shardBytes: Math.ceil((listRows * m.validShare * 32) / a.shardCount),
    splitSeconds: m.splitSecondsPerMillionRows * scale,
    shardCpuSeconds: m.matchSecondsPerMillionRows * scale,
    reduceSeconds: a.reduceSeconds,
    initSeconds: a.initSeconds,
    splitMemoryMb: a.splitMemoryMb,
    shardMemoryMb: a.shardMemoryMb,
    reduceMemoryMb: a.reduceMemoryMb,
    transitionsPerMatch: a.transitionsPerMatch,
    transitionsPerShard: a.transitionsPerShard,
    objectsPerShard: a.objectsPerShard,
    jobRruPerMatch: a.jobRruPerMatch,
    jobWruPerMatch: a.jobWruPerMatch,
    jobRruPerShard: a.jobRruPerShard,
    jobWruPerShard: a.jobWruPerShard,
  };
}
