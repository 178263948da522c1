/**
 * The membership filter: measured false-positive rate, bytes per 100 M people, and DynamoDB read
 * units per 1 M list rows (95 % distinct, one identifier a row) at match rates of 10, 40 and 70 %,
 * with and without the filter (0.5 RRU a key read, an absent key billed too).
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  DEFAULT_BITS_PER_KEY,
  designFalsePositiveRate,
  filterBytesFor,
  MembershipFilter,
} from '../shared/domain/audiences/membership-filter.ts';
import { type BenchOutput, check, human, round } from './table.ts';

export const RRU_PRICE_PER_MILLION = 0.125;

export function benchMembershipFilter(quick = false): BenchOutput & { falsePositiveRate: number } {
  const n = quick ? 200_000 : 1_000_000;
  const pepper = randomBytes(32);
  const key = (v: string) => createHmac('sha256', pepper).update(v).digest('base64url');
  const filter = MembershipFilter.sized(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) filter.add(key(`m${i}`));
  let positives = 0;
  for (let i = 0; i < n; i++) if (filter.mayHold(key(`x${i}`))) positives++;
  const seconds = (performance.now() - t0) / 1000;
  const fp = positives / n;
  const perHundredMillion = filterBytesFor(100_000_000);
  const distinct = 952_381;
  const rows = [0.1, 0.4, 0.7].map((rate) => {
    const without = distinct * 0.5;
    const withFilter = distinct * (rate + (1 - rate) * fp) * 0.5;
    return {
      name: `membership-filter: read units per 1 M list rows at a ${rate * 100} % match rate`,
      rows: 1_000_000,
      seconds: 0,
      rowsPerSecond: 0,
      ratioToBaseline: null,
      peakRssMb: Math.round(process.memoryUsage().rss / 1048576),
      rruWithout: Math.round(without),
      rruWith: Math.round(withFilter),
      costWithout: round((without / 1e6) * RRU_PRICE_PER_MILLION, 4),
      costWith: round((withFilter / 1e6) * RRU_PRICE_PER_MILLION, 4),
    };
  });
  return {
    falsePositiveRate: fp,
    rows: [
      {
        name: `membership-filter: ${human(n)} keyed values added, ${human(n)} strangers asked`,
        rows: 2 * n,
        seconds: round(seconds, 2),
        rowsPerSecond: Math.round((2 * n) / seconds),
        ratioToBaseline: null,
        peakRssMb: Math.round(process.memoryUsage().rss / 1048576),
        falsePositiveRate: round(fp, 5),
        designRate: round(designFalsePositiveRate(), 5),
        bitsPerKey: DEFAULT_BITS_PER_KEY,
        mibPer100MPeople: round(perHundredMillion / 1024 / 1024, 1),
      },
      ...rows,
    ],
    checks: [
      check(
        'membership-filter',
        'false-positive rate (12 bits a key)',
        `${round(fp * 100, 3)} % (design ${round(designFalsePositiveRate() * 100, 3)} %)`,
        'info',
        null,
      ),
      check(
        'membership-filter',
        'size per 100 M identifiers',
        `${round(perHundredMillion / 1024 / 1024, 1)} MiB`,
        'info',
        null,
      ),
      ...rows.map((r) =>
        check(
          'membership-filter',
          r.name.replace('membership-filter: ', ''),
          `${human(r.rruWith)} RRU ($${r.costWith}) vs ${human(r.rruWithout)} ($${r.costWithout}) unfiltered`,
          'info',
          null,
        ),
      ),
    ],
    notes: [
      'membership-filter: keyed values are HMAC-SHA256 under a random pepper; reads per 1 M rows assume 952,381 distinct keys (95 %), each held key read once, each stranger read only on a false positive.',
    ],
  };
}
