/**
 * Error of the released counts at the default settings: the mean relative error per true segment
 * size of the discrete Gaussian (rho 0.01 a match, squared sensitivity = segments + 1) beside the
 * discrete Laplace the first version used (epsilon 1 a match, L1 sensitivity = segments + 1) and
 * beside the discrete Laplace at the same zCDP cost as ours (epsilon = sqrt(2 rho): pure
 * epsilon-DP is epsilon^2 / 2-zCDP). Measured by drawing from the exact samplers, not from a formula.
 */
import {
  createDiscreteGaussianSampler,
  createDiscreteLaplaceSampler,
  discreteGaussianSigma2,
  discreteLaplaceScale,
} from '../shared/domain/privacy/noise.ts';
import { DEFAULT_PRIVACY_SETTINGS } from '../shared/domain/privacy/privacy-params.ts';
import { type BenchOutput, type Check, check, type ReportRow, round } from './table.ts';

export interface ErrorRow {
  segments: number;
  size: number;
  /** Mean |released - true| / true, the released value clamped at 0 (no threshold applied). */
  gaussian: number;
  laplaceSameRho: number;
  laplaceEpsilon1: number;
}

function meanRelativeError(sample: () => number, size: number, draws: number): number {
  let sum = 0;
  for (let i = 0; i < draws; i++) sum += Math.abs(Math.max(0, size + sample()) - size);
  return sum / draws / size;
}

export function measurePrivacyError(draws = 20_000): ErrorRow[] {
  const rho = DEFAULT_PRIVACY_SETTINGS.rhoPerMatch;
  const rows: ErrorRow[] = [];
  for (const segments of [11, 50]) {
    const sensitivity = segments + 1;
    const gaussian = createDiscreteGaussianSampler(discreteGaussianSigma2(sensitivity, rho));
    const sameRho = createDiscreteLaplaceSampler(
      discreteLaplaceScale(sensitivity, Number(Math.sqrt(2 * rho).toFixed(6))),
    );
    const epsilon1 = createDiscreteLaplaceSampler(discreteLaplaceScale(sensitivity, 1));
    for (const size of [100, 500, 1_000, 5_000, 10_000]) {
      rows.push({
        segments,
        size,
        gaussian: meanRelativeError(() => gaussian.sample(), size, draws),
        laplaceSameRho: meanRelativeError(() => sameRho.sample(), size, draws),
        laplaceEpsilon1: meanRelativeError(() => epsilon1.sample(), size, draws),
      });
    }
  }
  return rows;
}

/** `npm run bench -- --only privacy`: the error table and the attack success rates, as checks. */
export async function benchPrivacy(quick: boolean): Promise<BenchOutput> {
  const { ATTACK_SETTINGS, runAttacks } = await import('./privacy-attacks.ts');
  const checks: Check[] = [];
  const rows: ReportRow[] = [];
  for (const r of measurePrivacyError(quick ? 2_000 : 20_000)) {
    rows.push({
      name: `privacy error, ${r.segments} segments, size ${r.size}`,
      seconds: 0,
      rows: r.size,
      rowsPerSecond: 0,
      ratioToBaseline: null,
      peakRssMb: 0,
      ...r,
    });
    checks.push(
      check(
        'privacy',
        `mean relative error, ${r.segments} segments a person, segment of ${r.size} (discrete Gaussian rho 0.01 | Laplace same rho | Laplace eps 1)`,
        `${pct(r.gaussian)} | ${pct(r.laplaceSameRho)} | ${pct(r.laplaceEpsilon1)}`,
        r.size >= 1_000 ? '< 5 % (Gaussian)' : 'info',
        r.size >= 1_000 ? r.gaussian < 0.05 : null,
      ),
    );
  }
  for (const o of await runAttacks(ATTACK_SETTINGS, quick ? 50 : 300)) {
    rows.push({
      name: `attack: ${o.attack}`,
      seconds: 0,
      rows: o.trials,
      rowsPerSecond: 0,
      ratioToBaseline: null,
      peakRssMb: 0,
      ...o,
    });
    checks.push(
      check(
        'privacy',
        `attack success: ${o.attack} (rho ${round(o.rho, 3)}, ${o.trials} trials)`,
        `${pct(o.success)}`,
        `<= ${pct(o.bound)} (+ slack, limit ${pct(o.limit)})`,
        o.success <= o.limit,
      ),
    );
  }
  return {
    rows,
    checks,
    notes: [
      'privacy: relative errors are of the noisy count before the threshold and rounding; the attack bound is the best balanced accuracy the stated zCDP guarantee allows for the rho the attack spent (docs/privacy.md).',
    ],
  };
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
