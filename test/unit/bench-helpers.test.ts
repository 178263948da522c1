import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../bench/run.ts';
import { partnerMemberships, randomDigests, shuffle } from '../../bench/synthetic.ts';
import { check, renderTable } from '../../bench/table.ts';

describe('bench runner arguments', () => {
  it('runs everything at full size by default', () => {
    const args = parseArgs([]);
    expect(args.quick).toBe(false);
    expect(args.only).toEqual([
      'hashing',
      'bundles',
      'match-memory',
      'dynamodb-batch',
      'memory-10m',
      'ingest-10m',
      'membership-filter',
      'cost',
      'privacy',
      'console',
      'end-to-end',
    ]);
  });

  it('takes --quick and --only in both spellings, keeping the run order', () => {
    expect(parseArgs(['--quick', '--only', 'cost,hashing'])).toEqual({
      quick: true,
      only: ['hashing', 'cost'],
    });
    expect(parseArgs(['--only=memory-10m']).only).toEqual(['memory-10m']);
  });

  it('refuses unknown benchmarks and arguments', () => {
    expect(() => parseArgs(['--only', 'hashing,nope'])).toThrow(/unknown benchmark/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument/);
    expect(() => parseArgs(['--only'])).toThrow(/comma-separated/);
  });
});

describe('bench table', () => {
  it('shows every check with its status and counts them', () => {
    const table = renderTable([
      check('hashing', 'emails/s', '2.1M/s', '>= 1.5M/s', true),
      check('memory-10m', 'peak RSS', '600 MB', '< 512 MB', false),
      check('cost', 'per 1M rows', '$0.06', 'written down', null),
    ]);
    expect(table).toMatch(/hashing .*PASS/);
    expect(table).toMatch(/memory-10m .*FAIL/);
    expect(table).toMatch(/cost .*INFO/);
    expect(table).toContain('PASS 1  FAIL 1  INFO 1  SKIP 0');
  });

  it('wraps long cells instead of widening the table', () => {
    const table = renderTable([check('b', 'x '.repeat(60), 'm', 'bar', true)]);
    for (const line of table.split('\n').slice(0, -1)) expect(line.length).toBeLessThanOrEqual(140);
  });
});

describe('bench synthetic data', () => {
  it('is deterministic', () => {
    expect(randomDigests(10, 3)).toEqual(randomDigests(10, 3));
    expect(randomDigests(10, 3)).not.toEqual(randomDigests(10, 4));
    expect(shuffle([1, 2, 3, 4, 5, 6], 9)).toEqual(shuffle([1, 2, 3, 4, 5, 6], 9));
  });

  it('puts each partner member in 1 to 3 distinct segments', () => {
    const p = partnerMemberships(5_000, 50, 1);
    let total = 0;
    for (let m = 0; m < 5_000; m++) {
      const n = p.counts[m] as number;
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(3);
      const segs = [...p.segs.subarray(m * 3, m * 3 + n)];
      expect(new Set(segs).size).toBe(n);
      for (const s of segs) expect(s).toBeLessThan(50);
      total += n;
    }
    expect(total).toBe(p.memberships);
  });
});
