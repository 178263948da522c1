import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/build-app.ts';
import { DeployContextError, parseDeployContext, privacyEnvironment } from '../../cdk/privacy-context.ts';
import { RuntimeConfigSchema } from '../../shared/infra/runtime-config.ts';

const errorOf = (raw: Record<string, unknown>): string => {
  try {
    parseDeployContext(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(DeployContextError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
};

describe('deploy-time privacy context', () => {
  it('defaults to the product settings', () => {
    expect(parseDeployContext({})).toEqual({
      minSegmentSize: 50,
      minListSize: 1000,
      noise: true,
      epsilonPerMatch: 1,
      epsilonBudget: 10,
      rounding: 'none',
      retentionDays: 30,
      shardCount: 16,
      maxShardConcurrency: 16,
      retireGraceSeconds: 10800,
      maxIngestRows: 5_000_000,
    });
  });

  it('accepts the strings `cdk -c key=value` passes', () => {
    const c = parseDeployContext({
      minSegmentSize: '80',
      noise: 'false',
      epsilonPerMatch: '0.5',
      retentionDays: '7',
    });
    expect(c).toMatchObject({ minSegmentSize: 80, noise: false, epsilonPerMatch: 0.5, retentionDays: 7 });
  });

  it('accepts the bounds of minSegmentSize (20 and 200)', () => {
    expect(parseDeployContext({ minSegmentSize: 20 }).minSegmentSize).toBe(20);
    expect(parseDeployContext({ minSegmentSize: 200 }).minSegmentSize).toBe(200);
  });

  it.each([
    [{ minSegmentSize: 10 }, 'context key "minSegmentSize" must be at least 20', '(got 10)'],
    [{ minSegmentSize: '500' }, 'context key "minSegmentSize" must be at most 200', '(got "500")'],
    [
      { minSegmentSize: 'fifty' },
      'context key "minSegmentSize" must be a whole number between 20 and 200',
      '"fifty"',
    ],
    [{ minSegmentSize: 50.5 }, 'context key "minSegmentSize" must be a whole number', '50.5'],
    [{ minListSize: 0 }, 'context key "minListSize" must be at least 1', '(got 0)'],
    [{ noise: 'maybe' }, 'context key "noise" must be true or false', '"maybe"'],
    [{ epsilonPerMatch: 0 }, 'context key "epsilonPerMatch" must be greater than 0', '(got 0)'],
    [{ epsilonBudget: -1 }, 'context key "epsilonBudget" must be greater than 0', '(got -1)'],
    [
      { rounding: 'nearest-7' },
      'context key "rounding" must be one of none, nearest-5, nearest-10',
      '"nearest-7"',
    ],
    [
      { retireGraceSeconds: 100_000 },
      'context key "retireGraceSeconds" must be at most 86400',
      '(got 100000)',
    ],
    [{ retentionDays: 0 }, 'context key "retentionDays" must be at least 1 day', '(got 0)'],
    [{ shardCount: 12 }, 'context key "shardCount" must be a power of two', '(got 12)'],
    [{ alarmTopicArn: 'my-topic' }, 'context key "alarmTopicArn" must be an SNS topic ARN', '"my-topic"'],
  ])('rejects %j with a message naming the key', (raw, message, got) => {
    const text = errorOf(raw);
    expect(text).toContain(message);
    expect(text).toContain(got);
    expect(text).toContain('-c ');
  });

  it('rejects an epsilon per match above the budget', () => {
    expect(errorOf({ epsilonPerMatch: 5, epsilonBudget: 2 })).toContain(
      'context key "epsilonPerMatch" must not exceed epsilonBudget (2)',
    );
  });

  it('lists every bad key at once', () => {
    const text = errorOf({ minSegmentSize: 5, retentionDays: -3, noise: 'yes' });
    expect(text).toContain('"minSegmentSize"');
    expect(text).toContain('"retentionDays"');
    expect(text).toContain('"noise"');
  });

  it('stops the synth itself on a bad value', () => {
    expect(() => buildApp({ context: { minSegmentSize: 5 }, nag: false })).toThrow(
      /context key "minSegmentSize"/,
    );
  });

  it('produces an environment the functions accept (same names and bounds as runtime-config)', () => {
    const env = privacyEnvironment(
      parseDeployContext({ minSegmentSize: 80, noise: false, rounding: 'nearest-10' }),
    );
    const names = {
      AUDIENCES_TABLE: 'audiences',
      JOBS_TABLE: 'jobs',
      LEDGER_TABLE: 'ledger',
      UPLOADS_BUCKET: 'uploads',
      PARTNER_DROPS_BUCKET: 'drops',
      RESULTS_BUCKET: 'results',
    };
    const runtime = RuntimeConfigSchema.parse({ ...names, ...env });
    expect(runtime).toMatchObject({
      MIN_SEGMENT_SIZE: 80,
      NOISE_ENABLED: false,
      ROUNDING: 'nearest-10',
      SHARD_COUNT: 16,
    });
    for (const key of Object.keys(env)) expect(Object.keys(RuntimeConfigSchema.shape)).toContain(key);
  });
});
