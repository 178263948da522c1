/**
 * Published catalog sizes (rule 5): segment sizes and the partner base are counts of the partner's
 * people, so they are released like any count: discrete Gaussian noise drawn once per published
 * version (every reader sees the same value, so reading again averages nothing), a threshold on
 * the noisy value, then rounding to 10. The threshold is k plus three standard deviations of the
 * noise: a segment truly under k then shows a size with probability under 0.14 % (the upper tail
 * of the Gaussian at 3 sigma), while segments of real audiences (hundreds to millions of people)
 * are unaffected. Each publication spends `rhoPerCatalog` from the partner's catalog budget.
 */
import type { RandomWords } from '../ports.ts';
import { releaseNoisy } from './apply-privacy.ts';
import {
  createDiscreteGaussianSampler,
  cryptoRandomWords,
  discreteGaussianSigma2,
  rationalValue,
} from './noise.ts';

/** Published sizes are rounded to this many people. */
export const CATALOG_ROUNDING = 10;

export interface CatalogCounts {
  /** True sizes of the segments being published (a new version each). */
  segments: ReadonlyMap<string, number>;
  /** True distinct people across all current segments. */
  base: number;
}

export interface PublishedCounts {
  segments: Map<string, number | null>;
  base: number | null;
}

/**
 * One person is in the base once and in each published segment at most once: squared L2
 * sensitivity = published segments + 1. `rho` undefined means noise off (test stacks only).
 */
export function publishCatalogCounts(
  counts: CatalogCounts,
  options: { k: number; rho: number | undefined; random?: RandomWords },
): PublishedCounts {
  let noise: () => number = () => 0;
  let threshold = options.k;
  if (options.rho !== undefined) {
    const sigma2 = discreteGaussianSigma2(counts.segments.size + 1, options.rho);
    const sampler = createDiscreteGaussianSampler(sigma2, options.random ?? cryptoRandomWords);
    noise = () => sampler.sample();
    threshold = options.k + Math.ceil(3 * Math.sqrt(rationalValue(sigma2)));
  }
  const publish = (n: number) => releaseNoisy(n + noise(), threshold, CATALOG_ROUNDING).value;
  const base = publish(counts.base);
  const segments = new Map<string, number | null>();
  for (const [id, size] of counts.segments) segments.set(id, publish(size));
  return { segments, base };
}

/** Nothing published (the catalog budget of the period is spent): sizes are withheld. */
export function withheldCatalogCounts(counts: CatalogCounts): PublishedCounts {
  return { segments: new Map([...counts.segments.keys()].map((id) => [id, null])), base: null };
}
