/**
 * Privacy settings of a deployment (privacy rules 1, 2, 3 and 5 of docs/privacy.md): one table of
 * settings, from which the zod schema, the function environment and the CDK context are derived,
 * so their names, defaults and bounds can never disagree. Validated once at init, failing fast with
 * a message that names the setting, its value and the allowed range.
 */
import { z } from 'zod';
import { DomainError } from '../errors.ts';

/** Bounds of the k-anonymity threshold (minimum segment size). */
export const MIN_SEGMENT_SIZE_FLOOR = 20;
export const MIN_SEGMENT_SIZE_MAX = 200;
export const DEFAULT_MIN_SEGMENT_SIZE = 50;
export const DEFAULT_MIN_LIST_SIZE = 1000;

/** Released counts may be rounded to the nearest multiple of a base, after noise. */
export const ROUNDING_MODES = ['none', 'nearest-5', 'nearest-10'] as const;
export type Rounding = (typeof ROUNDING_MODES)[number];
export const RoundingSchema = z.enum(ROUNDING_MODES);

/** Budgets renew at the start of each period (UTC); the guarantee is stated per period. */
export const BUDGET_PERIODS = ['day', 'week', 'month', 'quarter'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/** The multiple a rounding mode rounds to (1 for none). */
export function roundingBase(rounding: Rounding): number {
  switch (rounding) {
    case 'none':
      return 1;
    case 'nearest-5':
      return 5;
    case 'nearest-10':
      return 10;
  }
}

interface NumericSetting {
  kind: 'number';
  /** Environment variable of the functions and the embedded stack. */
  env: string;
  /** CDK context key (`-c key=value` or cdk.json). */
  context: string;
  min: number;
  max: number;
  integer: boolean;
  default: number;
  /** What it is, in a few words (messages and docs). */
  what: string;
}

interface ChoiceSetting<T extends string> {
  kind: 'choice';
  env: string;
  context: string;
  choices: readonly T[];
  default: T;
  what: string;
}

interface FlagSetting {
  kind: 'flag';
  env: string;
  context: string;
  default: boolean;
  what: string;
}

/**
 * Every privacy setting, once. The defaults give at least 30 matches a month per advertiser and
 * partner (0.4 / 0.01 = 40) with a mean relative error under 5 % on segments of 1,000 people for
 * partners of up to 60 segments (see docs/privacy.md, "Error at the defaults").
 */
export const PRIVACY_SETTINGS = {
  minSegmentSize: {
    kind: 'number',
    env: 'MIN_SEGMENT_SIZE',
    context: 'minSegmentSize',
    min: MIN_SEGMENT_SIZE_FLOOR,
    max: MIN_SEGMENT_SIZE_MAX,
    integer: true,
    default: DEFAULT_MIN_SEGMENT_SIZE,
    what: 'k, the smallest noisy count ever released',
  },
  minListSize: {
    kind: 'number',
    env: 'MIN_LIST_SIZE',
    context: 'minListSize',
    min: 1,
    max: 100_000_000,
    integer: true,
    default: DEFAULT_MIN_LIST_SIZE,
    what: 'the fewest distinct valid identifiers a list may hold',
  },
  rhoPerMatch: {
    kind: 'number',
    env: 'RHO_PER_MATCH',
    context: 'rhoPerMatch',
    min: 0.0001,
    max: 1,
    integer: false,
    default: 0.01,
    what: 'zCDP rho one match spends',
  },
  rhoPerAdvertiserPartner: {
    kind: 'number',
    env: 'RHO_PER_ADVERTISER_PARTNER',
    context: 'rhoPerAdvertiserPartner',
    min: 0.0001,
    max: 10,
    integer: false,
    default: 0.4,
    what: 'zCDP rho one advertiser may spend against one partner per period',
  },
  rhoPerPartner: {
    kind: 'number',
    env: 'RHO_PER_PARTNER',
    context: 'rhoPerPartner',
    min: 0.0001,
    max: 10,
    integer: false,
    default: 1,
    what: 'zCDP rho all advertisers together may spend against one partner per period',
  },
  rhoPerCatalog: {
    kind: 'number',
    env: 'RHO_PER_CATALOG',
    context: 'rhoPerCatalog',
    min: 0.0001,
    max: 1,
    integer: false,
    default: 0.01,
    what: 'zCDP rho one published catalog version spends',
  },
  rhoCatalogPerPartner: {
    kind: 'number',
    env: 'RHO_CATALOG_PER_PARTNER',
    context: 'rhoCatalogPerPartner',
    min: 0.0001,
    max: 10,
    integer: false,
    default: 0.2,
    what: "zCDP rho a partner's published catalog sizes may spend per period",
  },
  budgetPeriod: {
    kind: 'choice',
    env: 'BUDGET_PERIOD',
    context: 'budgetPeriod',
    choices: BUDGET_PERIODS,
    default: 'month',
    what: 'the period budgets renew at (UTC)',
  } satisfies ChoiceSetting<BudgetPeriod>,
  rounding: {
    kind: 'choice',
    env: 'ROUNDING',
    context: 'rounding',
    choices: ROUNDING_MODES,
    default: 'none',
    what: 'rounding of released counts, after noise',
  } satisfies ChoiceSetting<Rounding>,
  unsafeNoiseOffForTests: {
    kind: 'flag',
    env: 'UNSAFE_NOISE_OFF_FOR_TESTS',
    context: 'unsafeNoiseOffForTests',
    default: false,
    what: 'turns the noise off, voiding the guarantee: test stacks only; the CDK app refuses it',
  },
} as const satisfies Record<string, NumericSetting | ChoiceSetting<string> | FlagSetting>;

export type PrivacySettingName = keyof typeof PRIVACY_SETTINGS;

export interface PrivacySettings {
  minSegmentSize: number;
  minListSize: number;
  rhoPerMatch: number;
  rhoPerAdvertiserPartner: number;
  rhoPerPartner: number;
  rhoPerCatalog: number;
  rhoCatalogPerPartner: number;
  budgetPeriod: BudgetPeriod;
  rounding: Rounding;
  /** Test stacks only: no noise at all, no guarantee. */
  unsafeNoiseOffForTests: boolean;
}

export type PrivacySettingsInput = Partial<Record<PrivacySettingName, unknown>>;

/** What a setting accepts, in words: "a number from 20 to 200", "one of none, nearest-5". */
export function allowedRange(name: PrivacySettingName): string {
  const s = PRIVACY_SETTINGS[name] as NumericSetting | ChoiceSetting<string> | FlagSetting;
  if (s.kind === 'number') return `${s.integer ? 'a whole number' : 'a number'} from ${s.min} to ${s.max}`;
  if (s.kind === 'choice') return `one of ${s.choices.join(', ')}`;
  return 'true or false';
}

/** Strings (environment, `-c key=value`) and JSON values alike. */
function coerce(name: PrivacySettingName, value: unknown): unknown {
  const s = PRIVACY_SETTINGS[name] as NumericSetting | ChoiceSetting<string> | FlagSetting;
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (s.kind === 'number') return text === '' ? Number.NaN : Number(text);
  if (s.kind === 'flag') {
    const lower = text.toLowerCase();
    if (lower === 'true' || lower === '1') return true;
    if (lower === 'false' || lower === '0') return false;
  }
  return text;
}

function validOne(name: PrivacySettingName, value: unknown): boolean {
  const s = PRIVACY_SETTINGS[name] as NumericSetting | ChoiceSetting<string> | FlagSetting;
  if (s.kind === 'number')
    return (
      typeof value === 'number' &&
      Number.isFinite(value) &&
      value >= s.min &&
      value <= s.max &&
      (!s.integer || Number.isInteger(value))
    );
  if (s.kind === 'choice') return typeof value === 'string' && s.choices.includes(value);
  return typeof value === 'boolean';
}

/**
 * Checks deployment settings (CDK context, environment or an object): every problem, each naming
 * the setting (as `label` spells it: the environment variable or the context key), its value and
 * the allowed range; the settings when there is none.
 */
export function checkPrivacySettings(
  input: PrivacySettingsInput = {},
  label: (name: PrivacySettingName) => string = (name) => name,
): { settings?: PrivacySettings; problems: string[] } {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(PRIVACY_SETTINGS) as PrivacySettingName[]) {
    const raw = input[name];
    const value = raw === undefined ? PRIVACY_SETTINGS[name].default : coerce(name, raw);
    if (!validOne(name, value)) {
      problems.push(`${label(name)}=${String(raw)} is out of range: allowed ${allowedRange(name)}`);
      continue;
    }
    out[name] = value;
  }
  if (problems.length > 0) return { problems };
  const settings = out as unknown as PrivacySettings;
  if (settings.rhoPerMatch > settings.rhoPerAdvertiserPartner)
    problems.push(
      `${label('rhoPerMatch')}=${settings.rhoPerMatch} exceeds ${label('rhoPerAdvertiserPartner')}=${settings.rhoPerAdvertiserPartner}: not one match could run`,
    );
  if (settings.rhoPerAdvertiserPartner > settings.rhoPerPartner)
    problems.push(
      `${label('rhoPerAdvertiserPartner')}=${settings.rhoPerAdvertiserPartner} exceeds ${label('rhoPerPartner')}=${settings.rhoPerPartner}: the partner-wide budget bounds every advertiser's`,
    );
  if (settings.rhoPerCatalog > settings.rhoCatalogPerPartner)
    problems.push(
      `${label('rhoPerCatalog')}=${settings.rhoPerCatalog} exceeds ${label('rhoCatalogPerPartner')}=${settings.rhoCatalogPerPartner}: no catalog could be published`,
    );
  return problems.length > 0 ? { problems } : { settings, problems };
}

/** As checkPrivacySettings, failing fast with one typed error listing every problem. */
export function parsePrivacySettings(
  input: PrivacySettingsInput = {},
  label: (name: PrivacySettingName) => string = (name) => name,
): PrivacySettings {
  const { settings, problems } = checkPrivacySettings(input, label);
  if (!settings) {
    throw new DomainError('invalid-privacy-settings', `Invalid privacy settings: ${problems.join('; ')}.`);
  }
  return settings;
}

/** The defaults: k 50, lists of at least 1,000, rho 0.01 a match, 0.4 per advertiser and 1 per partner a month. */
export const DEFAULT_PRIVACY_SETTINGS: PrivacySettings = parsePrivacySettings({});

/** Variables of the first version, refused rather than silently ignored (a stack would run with noise). */
const RETIRED_ENV: Readonly<Record<string, string>> = {
  NOISE_ENABLED: 'noise is always on; test stacks turn it off with UNSAFE_NOISE_OFF_FOR_TESTS=true',
  EPSILON_PER_MATCH: 'the budget is zCDP rho now: use RHO_PER_MATCH',
  EPSILON_BUDGET: 'the budget is zCDP rho per period now: use RHO_PER_ADVERTISER_PARTNER and RHO_PER_PARTNER',
};

/** Reads the settings from environment variables (the functions and the embedded stack). */
export function privacySettingsFromEnv(env: Record<string, string | undefined>): PrivacySettings {
  const retired = Object.keys(RETIRED_ENV).filter((name) => env[name] !== undefined);
  if (retired.length > 0) {
    throw new DomainError(
      'invalid-privacy-settings',
      `Invalid privacy settings: ${retired.map((name) => `${name} is no longer read: ${RETIRED_ENV[name]}`).join('; ')}.`,
    );
  }
  const input: PrivacySettingsInput = {};
  for (const name of Object.keys(PRIVACY_SETTINGS) as PrivacySettingName[]) {
    const value = env[PRIVACY_SETTINGS[name].env];
    if (value !== undefined) input[name] = value;
  }
  return parsePrivacySettings(input, (name) => PRIVACY_SETTINGS[name].env);
}

/** The environment variables that carry settings to the functions. */
export function privacySettingsToEnv(settings: PrivacySettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of Object.keys(PRIVACY_SETTINGS) as PrivacySettingName[]) {
    env[PRIVACY_SETTINGS[name].env] = String(settings[name]);
  }
  return env;
}

/**
 * The k a match runs with: the deployment's k, or a higher one the request asks for. A request may
 * raise k, never lower it (rule 1); asking for less is refused rather than clamped, so the caller
 * never believes a weaker threshold was applied.
 */
export function resolveK(deploymentK: number, requestedK?: number): number {
  if (requestedK === undefined) return deploymentK;
  if (!Number.isInteger(requestedK)) {
    throw new DomainError('invalid-min-segment-size', 'The minimum segment size must be an integer.');
  }
  if (requestedK < deploymentK) {
    throw new DomainError(
      'min-segment-size-below-floor',
      `The requested minimum segment size ${requestedK} is below this deployment's minimum of ${deploymentK}; a request may raise it, never lower it.`,
    );
  }
  if (requestedK > MIN_SEGMENT_SIZE_MAX) {
    throw new DomainError(
      'min-segment-size-above-max',
      `The requested minimum segment size ${requestedK} is above the maximum of ${MIN_SEGMENT_SIZE_MAX}.`,
    );
  }
  return requestedK;
}
