/**
 * One source for every deploy setting: cdk.json, the code's defaults (deploy context and the
 * functions' runtime config), docs/deploying.md and the README agree. Unknown context keys, values
 * out of bounds and a retire grace shorter than a match are refused at synth, by the app and by
 * the CDK CLI's way of passing context.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/build-app.ts';
import {
  deploymentEnvironment,
  PROJECT_CONTEXT_KEYS,
  parseDeployment,
  settingOf,
  stackNames,
} from '../../cdk/deploy-context.ts';
import { REPO_ROOT } from '../../cdk/handlers.ts';
import { DeployContextError } from '../../cdk/privacy-context.ts';
import { PRIVACY_SETTINGS } from '../../shared/domain/privacy/privacy-params.ts';
import { MATCH_TIMEOUT_SECONDS } from '../../shared/infra/definitions.ts';
import { privacySettingsOf, RuntimeConfigSchema } from '../../shared/infra/runtime-config.ts';
import { withScratchOutdir } from './synth.ts';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const cdkJson = JSON.parse(read('cdk.json')) as { context: Record<string, unknown> };
const defaults = parseDeployment({});
/** Settings without a default (optional): absent from cdk.json, "(none)" in the docs. */
const OPTIONAL = ['alarmTopicArn', 'alarmEmail'];

const errorOf = (raw: Record<string, unknown>): string => {
  try {
    parseDeployment(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(DeployContextError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
};

/** Rows of a markdown table whose first cell is a backquoted key: key -> cells. */
function tableRows(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([A-Za-z]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m)
      rows.set(
        m[1] as string,
        (m[2] as string).split('|').map((c) => c.trim()),
      );
  }
  return rows;
}

const shown = (value: unknown) => (value === undefined ? '(none)' : String(value));

describe('one source for every deploy setting', () => {
  it('cdk.json lists every setting with a default, at exactly that default', () => {
    const withDefault = PROJECT_CONTEXT_KEYS.filter((k) => !OPTIONAL.includes(k));
    expect(Object.keys(cdkJson.context).sort()).toEqual([...withDefault].sort());
    expect(parseDeployment(cdkJson.context)).toEqual(defaults);
    for (const key of withDefault) {
      expect(cdkJson.context[key], key).toEqual(settingOf(defaults, key));
    }
    // The setting the issue found drifting, named: it must outlive a match.
    expect(cdkJson.context.retireGraceSeconds).toBe(10800);
  });

  it('docs/deploying.md documents every setting with the code default', () => {
    const rows = tableRows(read('docs/deploying.md'));
    for (const key of PROJECT_CONTEXT_KEYS) {
      const row = rows.get(key);
      expect(row, `docs/deploying.md has no row for ${key}`).toBeDefined();
      expect(row?.[0], `${key} default in docs/deploying.md`).toBe(shown(settingOf(defaults, key)));
    }
  });

  it('the README configuration table shows the code defaults', () => {
    // The configuration section's table only (other sections have tables of their own).
    const readme = read('README.md');
    const section = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
    );
    const rows = tableRows(section.replace(/^\| [^`|][^|]*\| /gm, '| '));
    expect(rows.size).toBeGreaterThanOrEqual(8);
    for (const [key, cells] of rows) {
      expect(PROJECT_CONTEXT_KEYS, `README names an unknown setting ${key}`).toContain(key);
      const value = settingOf(defaults, key);
      const text = typeof value === 'number' ? value.toLocaleString('en-US') : String(value);
      expect(cells[1]?.startsWith(text), `${key}: README says "${cells[1]}", code says ${text}`).toBe(true);
    }
  });

  it('the functions default to the deploy defaults (the embedded stack runs what cdk deploy ships)', () => {
    const names = {
      AUDIENCES_TABLE: 'audiences',
      JOBS_TABLE: 'jobs',
      LEDGER_TABLE: 'ledger',
      UPLOADS_BUCKET: 'uploads',
      PARTNER_DROPS_BUCKET: 'drops',
      RESULTS_BUCKET: 'results',
    };
    const env = deploymentEnvironment(defaults);
    expect(RuntimeConfigSchema.parse({ ...names, ...env })).toEqual(RuntimeConfigSchema.parse(names));
    expect(privacySettingsOf({ ...names, ...env })).toEqual(privacySettingsOf(names));
    const privacyEnv = Object.values(PRIVACY_SETTINGS).map((x) => x.env);
    for (const key of Object.keys(env))
      expect([...Object.keys(RuntimeConfigSchema.shape), ...privacyEnv]).toContain(key);
  });
});

describe('strict deploy context', () => {
  it('names an unknown key, with the setting it most likely meant', () => {
    const text = errorOf({ minSegmentsize: 80 });
    expect(text).toContain('context key "minSegmentsize" is not a setting of this app');
    expect(text).toContain('did you mean "minSegmentSize"?');
    expect(errorOf({ retentiondays: 3, shardcount: 4 })).toMatch(/"retentiondays"[\s\S]*"shardcount"/);
  });

  it("leaves the CDK's own context keys alone", () => {
    const parsed = parseDeployment({
      '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
      'aws:cdk:bundling-stacks': [],
      'aws:cdk:enable-path-metadata': true,
      'aws-cdk:enableDiffNoFail': 'true',
      'acknowledged-issue-numbers': [34892],
      'cli-telemetry': false,
      'availability-zones:account=123456789012:region=eu-west-1': ['eu-west-1a'],
      '@aws-cdk/core.TreeMetadata:maxNodes': 100,
    });
    expect(parsed).toEqual(defaults);
  });

  it.each([
    [{ maxIngestRows: 1e12 }, 'context key "maxIngestRows" must be at most 250000000'],
    [{ maxIngestRows: '0' }, 'context key "maxIngestRows" must be at least 1'],
    [
      { retireGraceSeconds: 60 },
      `"retireGraceSeconds" must be more than the match timeout (${MATCH_TIMEOUT_SECONDS} seconds)`,
    ],
    [{ retireGraceSeconds: MATCH_TIMEOUT_SECONDS }, 'must be more than the match timeout'],
    [{ maxRunningMatchesPerTenant: 0 }, 'context key "maxRunningMatchesPerTenant" must be at least 1'],
    [{ maxRunningMatchesPerTenant: '1000' }, 'context key "maxRunningMatchesPerTenant" must be at most 100'],
    [{ maxRunningMatchesPerTenant: 2.5 }, 'context key "maxRunningMatchesPerTenant" must be a whole number'],
    [{ maxShardConcurrency: 0 }, 'context key "maxShardConcurrency" must be at least 1'],
    [
      { minListSize: 1e9 },
      'context key "minListSize"=1000000000 is out of range: allowed a whole number from 1 to 100000000',
    ],
    [{ stage: 'Prod' }, 'context key "stage" must be a lowercase letter'],
    [{ stage: 'prod-eu' }, 'context key "stage" must be a lowercase letter'],
    [{ alarmEmail: 'ops' }, 'context key "alarmEmail" must be an e-mail address'],
  ])('refuses %j', (raw, message) => {
    const text = errorOf(raw);
    expect(text).toContain(message);
    expect(text).toContain('-c ');
  });

  it('accepts the strings -c passes and the bounds themselves', () => {
    expect(
      parseDeployment({
        maxIngestRows: '250000000',
        retireGraceSeconds: String(MATCH_TIMEOUT_SECONDS + 1),
        maxRunningMatchesPerTenant: '1',
        stage: 'prod',
        alarmEmail: 'oncall@example.com',
      }),
    ).toMatchObject({
      maxIngestRows: 250_000_000,
      retireGraceSeconds: MATCH_TIMEOUT_SECONDS + 1,
      maxRunningMatchesPerTenant: 1,
      stage: 'prod',
      alarmEmail: 'oncall@example.com',
    });
  });

  it('lists every problem at once, unknown keys and bad values together', () => {
    const text = errorOf({ minSegmentsize: 80, minSegmentSize: 5, retireGraceSeconds: 60, stage: 'X' });
    for (const key of ['minSegmentsize', 'minSegmentSize', 'retireGraceSeconds', 'stage']) {
      expect(text).toContain(`"${key}"`);
    }
  });

  it('stops the synth of the app itself', () => {
    expect(() =>
      withScratchOutdir((outdir) => buildApp({ outdir, context: { minSegmentsize: 80 }, nag: false })),
    ).toThrow(/context key "minSegmentsize" is not a setting/);
  });

  it('fails `cdk synth -c minSegmentsize=80` (context as the CDK CLI passes it) with the message and exit code 1', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'onboarding-cli-'));
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cdk/app.ts')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ minSegmentsize: '80', 'aws:cdk:bundling-stacks': [] }),
        CDK_OUTDIR: outdir,
      },
      timeout: 60_000,
    });
    rmSync(outdir, { recursive: true, force: true });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toContain('context key "minSegmentsize" is not a setting of this app');
  });

  it('derives stack names from the stage', () => {
    expect(stackNames('prod')).toEqual({
      stateful: 'AudienceOnboarding-prod-Stateful',
      stateless: 'AudienceOnboarding-prod-Stateless',
    });
  });
});
