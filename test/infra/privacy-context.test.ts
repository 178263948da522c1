import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/build-app.ts';
import { DeployContextError, parseDeployContext, privacyEnvironment } from '../../cdk/privacy-context.ts';
import { DEFAULT_PRIVACY_SETTINGS, PRIVACY_SETTINGS } from '../../shared/domain/privacy/privacy-params.ts';
import { privacySettingsOf, RuntimeConfigSchema } from '../../shared/infra/runtime-config.ts';
import { withScratchOutdir } from './synth.ts';

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
      privacy: DEFAULT_PRIVACY_SETTINGS,
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
      rhoPerMatch: '0.02',
      budgetPeriod: 'week',
      retentionDays: '7',
    });
    expect(c).toMatchObject({
      privacy: { minSegmentSize: 80, rhoPerMatch: 0.02, budgetPeriod: 'week' },
      retentionDays: 7,
    });
  });

  it('accepts the bounds of minSegmentSize (20 and 200)', () => {
    expect(parseDeployContext({ minSegmentSize: 20 }).privacy.minSegmentSize).toBe(20);
    expect(parseDeployContext({ minSegmentSize: 200 }).privacy.minSegmentSize).toBe(200);
  });

  it.each([
    [
      { minSegmentSize: 10 },
      'context key "minSegmentSize"=10 is out of range: allowed a whole number from 20 to 200',
    ],
    [{ minSegmentSize: '500' }, 'context key "minSegmentSize"=500 is out of range'],
    [{ minSegmentSize: 'fifty' }, 'context key "minSegmentSize"=fifty is out of range'],
    [{ minSegmentSize: 50.5 }, 'context key "minSegmentSize"=50.5 is out of range'],
    [{ minListSize: 0 }, 'context key "minListSize"=0 is out of range: allowed a whole number from 1'],
    [{ rhoPerMatch: 0 }, 'context key "rhoPerMatch"=0 is out of range: allowed a number from 0.0001 to 1'],
    [{ rhoPerPartner: -1 }, 'context key "rhoPerPartner"=-1 is out of range'],
    [{ budgetPeriod: 'year' }, 'allowed one of day, week, month, quarter'],
    [
      { rounding: 'nearest-7' },
      'context key "rounding"=nearest-7 is out of range: allowed one of none, nearest-5, nearest-10',
    ],
    [{ retireGraceSeconds: 100_000 }, 'context key "retireGraceSeconds" must be at most 86400'],
    [{ retentionDays: 0 }, 'context key "retentionDays" must be at least 1 day'],
    [{ shardCount: 12 }, 'context key "shardCount" must be a power of two'],
    [{ alarmTopicArn: 'my-topic' }, 'context key "alarmTopicArn" must be an SNS topic ARN'],
  ])('rejects %j with a message naming the key, its value and the range', (raw, message) => {
    expect(errorOf(raw)).toContain(message);
  });

  it('refuses to deploy with the noise off: the unsafe test setting is for test stacks only', () => {
    expect(errorOf({ unsafeNoiseOffForTests: true })).toContain(
      'context key "unsafeNoiseOffForTests" is refused: a deployment always adds noise',
    );
    expect(errorOf({ unsafeNoiseOffForTests: 'true' })).toContain('is refused');
    expect(parseDeployContext({ unsafeNoiseOffForTests: false }).privacy.unsafeNoiseOffForTests).toBe(false);
  });

  it('refuses the retired epsilon keys and the old noise switch with what replaces them', () => {
    expect(errorOf({ noise: false })).toContain('context key "noise" is no longer read');
    expect(errorOf({ epsilonPerMatch: 1 })).toContain('use rhoPerMatch');
    expect(errorOf({ epsilonBudget: 10 })).toContain('rhoPerAdvertiserPartner');
  });

  it('rejects a rho per match above the advertiser budget', () => {
    expect(errorOf({ rhoPerMatch: 0.5, rhoPerAdvertiserPartner: 0.2 })).toContain(
      'context key "rhoPerMatch"=0.5 exceeds context key "rhoPerAdvertiserPartner"=0.2',
    );
  });

  it('lists every bad key at once', () => {
    const text = errorOf({ minSegmentSize: 5, retentionDays: -3, rhoPerMatch: 'lots' });
    expect(text).toContain('"minSegmentSize"');
    expect(text).toContain('"retentionDays"');
    expect(text).toContain('"rhoPerMatch"');
  });

  it('stops the synth itself on a bad value', () => {
    expect(() =>
      withScratchOutdir((outdir) => buildApp({ outdir, context: { minSegmentSize: 5 }, nag: false })),
    ).toThrow(/context key "minSegmentSize"/);
    expect(() =>
      withScratchOutdir((outdir) =>
        buildApp({ outdir, context: { unsafeNoiseOffForTests: true }, nag: false }),
      ),
    ).toThrow(/is refused/);
  });

  it('produces an environment the functions accept (same names and bounds as runtime-config)', () => {
    const env = privacyEnvironment(
      parseDeployContext({ minSegmentSize: 80, rhoPerMatch: 0.02, rounding: 'nearest-10' }),
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
    expect(runtime).toMatchObject({ SHARD_COUNT: 16 });
    expect(privacySettingsOf({ ...names, ...env })).toMatchObject({
      minSegmentSize: 80,
      rhoPerMatch: 0.02,
      rounding: 'nearest-10',
      unsafeNoiseOffForTests: false,
    });
    const privacyEnv = Object.values(PRIVACY_SETTINGS).map((s) => s.env);
    for (const key of Object.keys(env))
      expect([...Object.keys(RuntimeConfigSchema.shape), ...privacyEnv]).toContain(key);
  });
});
