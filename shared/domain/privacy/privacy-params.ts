/**
 * Privacy settings of a deployment (PRODUCT.md privacy rules 1, 2 and 5), validated once at init.
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

export const NoiseSettingsSchema = z.object({
  enabled: z.boolean().default(true),
  /** Epsilon spent by one match (split over every count it releases by sensitivity scaling). */
  epsilonPerMatch: z.number().positive().max(100).default(1.0),
  /** Total epsilon per advertiser-and-partner pair; spent, never silently refilled. */
  budgetPerPartner: z.number().positive().max(10_000).default(10),
});

export const PrivacySettingsSchema = z
  .object({
    /** k: released counts under it are suppressed. */
    minSegmentSize: z
      .number()
      .int()
      .min(MIN_SEGMENT_SIZE_FLOOR)
      .max(MIN_SEGMENT_SIZE_MAX)
      .default(DEFAULT_MIN_SEGMENT_SIZE),
    /** Lists with fewer distinct valid identifiers are refused. */
    minListSize: z.number().int().min(1).default(DEFAULT_MIN_LIST_SIZE),
    noise: NoiseSettingsSchema.default({ enabled: true, epsilonPerMatch: 1.0, budgetPerPartner: 10 }),
    rounding: RoundingSchema.default('none'),
  })
  .refine((s) => !s.noise.enabled || s.noise.epsilonPerMatch <= s.noise.budgetPerPartner, {
    message: 'noise.epsilonPerMatch must not exceed noise.budgetPerPartner',
    path: ['noise', 'epsilonPerMatch'],
  });

export type PrivacySettings = z.infer<typeof PrivacySettingsSchema>;
export type PrivacySettingsInput = z.input<typeof PrivacySettingsSchema>;

/** The defaults: k 50, lists of at least 1,000, noise on with epsilon 1 per match and 10 per partner. */
export const DEFAULT_PRIVACY_SETTINGS: PrivacySettings = PrivacySettingsSchema.parse({});

/** Validates deployment settings (e.g. CDK context or environment), failing fast with a typed error. */
export function parsePrivacySettings(input: unknown): PrivacySettings {
  const parsed = PrivacySettingsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DomainError('invalid-privacy-settings', `Invalid privacy settings: ${where}.`);
  }
  return parsed.data;
}

/**
 * The k a match runs with: the deployment's k, or a higher one the request asks for. A request may
 * raise k, never lower it (PRODUCT.md rule 1); asking for less is refused rather than clamped, so
 * the caller never believes a weaker threshold was applied.
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
