/**
 * The cost section of `npm run bench`: the cost model (cost-model.ts) fed with this run's
 * measurements (dynamodb-batch request counts, memory-10m step timings, the membership filter's
 * false-positive rate), or with the defaults below when those benches were not run (then said so).
 *
 * dynamodb-batch reads every distinct key (its list holds every member: no filter to skip with). A
 * match with the partner's membership filter reads a held key always and a stranger only on a false
 * positive, so at a match rate r its keys read (and BatchGetItem requests) are the unfiltered ones
 * times r + (1 - r) x fp: the rows "with the membership filter" price that at 10, 40 and 70 %.
 */

import { designFalsePositiveRate } from '../shared/domain/audiences/membership-filter.ts';
import {
  type BenchMeasurementsForCost,
  costInputsFromBench,
  DEFAULT_ASSUMPTIONS,
  estimateMatchCost,
  PRICES_US_EAST_1,
} from './cost-model.ts';
import type { DynamoMeasurements } from './dynamodb-batch.ts';
import type { MemoryMeasurements } from './memory-10m.ts';
import { type BenchOutput, check, human, type ReportRow, round } from './table.ts';

/** Used only for what this run did not measure (figures of a full run on the 2-core dev machine). */
export const FALLBACK_MEASUREMENTS: BenchMeasurementsForCost = {
  getRequestsPerMillionRows: 12_000,
  keysReadPerMillionRows: 950_000,
  splitSecondsPerMillionRows: 5,
  matchSecondsPerMillionRows: 12,
  validShare: 0.999,
};

const usd = (x: number) => (x >= 0.01 ? `$${x.toFixed(4)}` : `$${x.toPrecision(3)}`);

/** Match rates the filtered cost is priced at. */
export const FILTER_MATCH_RATES = [0.1, 0.4, 0.7] as const;

/** The measurements of a match whose membership filter skips the strangers it rules out. */
export function withFilter(
  m: BenchMeasurementsForCost,
  matchRate: number,
  falsePositiveRate: number,
): BenchMeasurementsForCost {
  const read = matchRate + (1 - matchRate) * falsePositiveRate;
  return {
    ...m,
    keysReadPerMillionRows: m.keysReadPerMillionRows * read,
    getRequestsPerMillionRows: m.getRequestsPerMillionRows * read,
  };
}

export function benchCost(
  dynamo?: DynamoMeasurements,
  memory?: MemoryMeasurements,
  falsePositiveRate?: number,
): BenchOutput {
  const measured: string[] = [];
  const m: BenchMeasurementsForCost = { ...FALLBACK_MEASUREMENTS };
  if (dynamo) {
    m.getRequestsPerMillionRows = dynamo.getRequestsPerMillionRows;
    m.keysReadPerMillionRows = dynamo.keysReadPerMillionRows;
    measured.push('DynamoDB request and key counts (dynamodb-batch)');
  }
  if (memory) {
    m.splitSecondsPerMillionRows = memory.splitSecondsPerMillionRows;
    m.matchSecondsPerMillionRows = memory.matchSecondsPerMillionRows;
    m.validShare = memory.shardBytesPerMillionRows / 32 / 1e6;
    measured.push('split and shard CPU seconds (memory-10m)');
  }
  const a = DEFAULT_ASSUMPTIONS;
  const rows: ReportRow[] = [];
  const perMillion = estimateMatchCost(costInputsFromBench(1e6, m));
  const tenMillion = estimateMatchCost(costInputsFromBench(1e7, m));
  for (const [listRows, c] of [
    [1e6, perMillion],
    [1e7, tenMillion],
  ] as const) {
    const seconds =
      c.quantities.shardWallSecondsEach * a.shardCount + m.splitSecondsPerMillionRows * (listRows / 1e6);
    rows.push({
      name: `cost: AWS us-east-1 estimate, one match of ${listRows / 1e6}M list rows`,
      rows: listRows,
      seconds: round(seconds, 1),
      rowsPerSecond: Math.round(listRows / seconds),
      ratioToBaseline: null,
      ratioMeaning: 'seconds = estimated Lambda compute seconds (split + all shards, incl. DynamoDB waits)',
      peakRssMb: 0,
      usdTotal: round(c.total, 6),
      usdPerMillionRows: round(c.totalPerMillionRows, 6),
      usdDynamoDbReads: round(c.dynamoReads, 6),
      usdDynamoDbJobs: round(c.dynamoJobs, 7),
      usdLambda: round(c.lambda, 6),
      usdStepFunctions: round(c.stepFunctions, 6),
      usdS3: round(c.s3, 7),
      quantities: Object.fromEntries(Object.entries(c.quantities).map(([k, v]) => [k, round(v, 2)])),
      measured: measured.length ? measured : ['nothing: all inputs are fallbacks'],
    });
  }
  const fp = falsePositiveRate ?? designFalsePositiveRate();
  if (falsePositiveRate !== undefined)
    measured.push('membership filter false-positive rate (membership-filter)');
  const filtered = FILTER_MATCH_RATES.map((rate) => ({
    rate,
    cost: estimateMatchCost(costInputsFromBench(1e6, withFilter(m, rate, fp))),
  }));
  for (const { rate, cost: c } of filtered) {
    rows.push({
      name: `cost: AWS us-east-1 estimate, one match of 1M list rows with the membership filter, ${rate * 100} % match rate`,
      rows: 1e6,
      seconds: 0,
      rowsPerSecond: 0,
      ratioToBaseline: null,
      peakRssMb: 0,
      matchRate: rate,
      falsePositiveRate: round(fp, 5),
      usdTotal: round(c.total, 6),
      usdDynamoDbReads: round(c.dynamoReads, 6),
      usdLambda: round(c.lambda, 6),
      rru: round(c.quantities.rru, 0),
    });
  }
  const q = perMillion.quantities;
  const checks = [
    check(
      'cost',
      'AWS cost per 1M list rows matched (us-east-1, on-demand)',
      `${usd(perMillion.totalPerMillionRows)}: DynamoDB reads ${usd(perMillion.dynamoReads)}, Lambda ${usd(perMillion.lambda)}, SFN ${usd(perMillion.stepFunctions)}, S3 ${usd(perMillion.s3)}, jobs ${usd(perMillion.dynamoJobs)}`,
      'written down (no bar)',
      null,
    ),
    ...filtered.map(({ rate, cost: c }) =>
      check(
        'cost',
        `same, with the membership filter at a ${rate * 100} % match rate (false positives ${round(fp * 100, 3)} %${falsePositiveRate === undefined ? ', design rate' : ''})`,
        `${usd(c.totalPerMillionRows)}: DynamoDB reads ${usd(c.dynamoReads)} (${human(c.quantities.rru)} RRU), Lambda ${usd(c.lambda)}`,
        'written down (no bar)',
        null,
      ),
    ),
    check(
      'cost',
      `shard sizing: ${a.shardCount} shards, est. seconds per shard Lambda (10-minute timeout)`,
      `1M rows: ${round(q.shardWallSecondsEach, 1)} s; 10M rows: ${round(tenMillion.quantities.shardWallSecondsEach, 1)} s`,
      '< 600 s per shard',
      tenMillion.quantities.shardWallSecondsEach < 600,
    ),
  ];
  const notes = [
    `cost: prices (us-east-1, 2025-11): DynamoDB $${PRICES_US_EAST_1.dynamoReadPerMillionRru}/M RRU, $${PRICES_US_EAST_1.dynamoWritePerMillionWru}/M WRU; Lambda Arm $${PRICES_US_EAST_1.lambdaArmPerGbSecond}/GB-s + $${PRICES_US_EAST_1.lambdaPerMillionRequests}/M requests; Step Functions Standard $${PRICES_US_EAST_1.sfnStandardPerThousandTransitions}/1k transitions; S3 $${PRICES_US_EAST_1.s3PutPerThousand}/1k PUT, $${PRICES_US_EAST_1.s3GetPerThousand}/1k GET.`,
    `cost: per 1M rows: ${round(m.keysReadPerMillionRows)} keys read x 0.5 RRU (eventually consistent BatchGetItem, items <= 4 KB, a missing key billed as a read) = ${round(q.rru)} RRU; ${round(m.getRequestsPerMillionRows)} BatchGetItem requests (${dynamo ? 'measured, retries included, 20% throttling simulated' : 'fallback figure'}) x ${a.batchGetLatencyMs} ms assumed latency / ${a.lookupConcurrency} in flight; Lambda CPU ${memory ? 'measured here' : 'fallback figures'} (split ${round(m.splitSecondsPerMillionRows, 2)} s, shards ${round(m.matchSecondsPerMillionRows, 2)} s per 1M rows; assumed equal on Graviton), ${a.initSeconds} s billed init per invocation, memory ${a.splitMemoryMb}/${a.shardMemoryMb}/${a.reduceMemoryMb} MB (split/shard/reduce, as in cdk/stateless-stack.ts), reduce ${a.reduceSeconds} s; ${a.transitionsPerMatch} + ${a.transitionsPerShard}/shard state transitions; ${a.objectsPerShard} S3 objects per shard (shard, tally, matched sets). Measured here: ${measured.length ? measured.join('; ') : 'none (fallback figures)'}. Not included: partner ingest (writes: see dynamodb-batch writeRequestsPerMillionMembers), storage, API Gateway, CloudWatch, KMS requests, data transfer.`,
  ];
  return { rows, checks, notes };
}
