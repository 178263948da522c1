import { describe, expect, it } from 'vitest';
import type { RandomWords } from '../../shared/domain/ports.ts';
import {
  createDiscreteGaussianSampler,
  createDiscreteLaplaceSampler,
  cryptoRandomWords,
  decimalToRational,
  discreteGaussianSigma2,
  discreteLaplaceScale,
  discreteLaplaceVariance,
  sampleDiscreteLaplace,
} from '../../shared/domain/privacy/noise.ts';

/** xoshiro128** seeded by splitmix32: a reproducible stand-in for the CSPRNG in statistical tests. */
function seededWords(seed: number): RandomWords {
  let x = seed >>> 0;
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = [splitmix(), splitmix(), splitmix(), splitmix()] as [number, number, number, number];
  const rotl = (v: number, k: number): number => ((v << k) | (v >>> (32 - k))) >>> 0;
  return (count) => {
    const out = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      out[i] = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
      const t = (s[1] << 9) >>> 0;
      s[2] ^= s[0];
      s[3] ^= s[1];
      s[1] ^= s[2];
      s[0] ^= s[3];
      s[2] = (s[2] ^ t) >>> 0;
      s[3] = rotl(s[3], 11);
    }
    return out;
  };
}

interface Moments {
  n: number;
  mean: number;
  variance: number;
  positive: number;
  negative: number;
  zero: number;
}

function moments(samples: Int32Array): Moments {
  let sum = 0;
  let sumSq = 0;
  let positive = 0;
  let negative = 0;
  for (const v of samples) {
    sum += v;
    sumSq += v * v;
    if (v > 0) positive++;
    else if (v < 0) negative++;
  }
  const n = samples.length;
  const mean = sum / n;
  return { n, mean, variance: sumSq / n - mean * mean, positive, negative, zero: n - positive - negative };
}

const N = 200_000;

describe('discrete Laplace sampler', () => {
  // Tolerances: 6 standard errors or more (a false failure has probability < 1e-8 for a fresh
  // seed), while a scale off by 10 % moves the variance by about 20 %, far outside them.
  it.each([
    { sensitivity: 1, epsilon: 1, seed: 1 },
    { sensitivity: 3, epsilon: 1, seed: 2 },
    { sensitivity: 2, epsilon: 0.1, seed: 3 },
    { sensitivity: 51, epsilon: 1.5, seed: 4 },
  ])(
    'has mean 0, variance 2p/(1-p)^2 and symmetric tails (sensitivity $sensitivity, epsilon $epsilon)',
    ({ sensitivity, epsilon, seed }) => {
      const scale = sensitivity / epsilon;
      const sampler = createDiscreteLaplaceSampler(
        discreteLaplaceScale(sensitivity, epsilon),
        seededWords(seed),
      );
      const samples = new Int32Array(N);
      for (let i = 0; i < N; i++) samples[i] = sampler.sample();
      const m = moments(samples);
      const p = Math.exp(-1 / scale);
      const variance = discreteLaplaceVariance(scale);

      // Mean: standard error sqrt(variance / N).
      expect(Math.abs(m.mean)).toBeLessThan(6 * Math.sqrt(variance / N));
      // Variance: excess kurtosis of the discrete Laplace is at most 3, so the standard error of the
      // sample variance is at most variance * sqrt(5 / N) (about 0.5 % here); allow 4 %.
      expect(m.variance / variance).toBeGreaterThan(0.96);
      expect(m.variance / variance).toBeLessThan(1.04);
      // P(X = 0) = (1 - p) / (1 + p).
      const p0 = (1 - p) / (1 + p);
      expect(Math.abs(m.zero / N - p0)).toBeLessThan(6 * Math.sqrt((p0 * (1 - p0)) / N));
      // Symmetry: positives and negatives are equally likely.
      const signed = m.positive + m.negative;
      expect(Math.abs(m.positive - m.negative)).toBeLessThan(6 * Math.sqrt(signed));
    },
  );

  it('matches the probability mass function cell by cell (chi-square, scale 2)', () => {
    const scale = 2;
    const sampler = createDiscreteLaplaceSampler({ numerator: 2n, denominator: 1n }, seededWords(11));
    const counts = new Map<number, number>();
    for (let i = 0; i < N; i++) {
      const v = Math.max(-8, Math.min(8, sampler.sample()));
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    const p = Math.exp(-1 / scale);
    const pmf = (x: number): number => ((1 - p) / (1 + p)) * p ** Math.abs(x);
    const tail = p ** 8 / (1 + p); // P(X >= 8) = p^8 / (1 + p)
    let chi = 0;
    for (let x = -8; x <= 8; x++) {
      const expected = N * (Math.abs(x) === 8 ? tail : pmf(x));
      chi += ((counts.get(x) ?? 0) - expected) ** 2 / expected;
    }
    // 16 degrees of freedom: P(chi2 > 60) is about 1e-6; a 10 % scale error gives chi2 in the thousands.
    expect(chi).toBeLessThan(60);
  });

  it('a wrong scale fails the variance check (the test has power)', () => {
    const sampler = createDiscreteLaplaceSampler(discreteLaplaceScale(11, 10), seededWords(5)); // scale 1.1
    const samples = new Int32Array(N);
    for (let i = 0; i < N; i++) samples[i] = sampler.sample();
    const ratio = moments(samples).variance / discreteLaplaceVariance(1);
    expect(ratio < 0.96 || ratio > 1.04).toBe(true);
  });

  it('works from the platform CSPRNG by default', () => {
    const samples = new Int32Array(20_000);
    for (let i = 0; i < samples.length; i++)
      samples[i] = sampleDiscreteLaplace({ sensitivity: 1, epsilon: 0.5 });
    const m = moments(samples);
    const variance = discreteLaplaceVariance(2);
    expect(Math.abs(m.mean)).toBeLessThan(8 * Math.sqrt(variance / samples.length));
    expect(m.variance / variance).toBeGreaterThan(0.85);
    expect(m.variance / variance).toBeLessThan(1.15);
    expect(cryptoRandomWords(70_000)).toHaveLength(70_000);
  });

  it('is reproducible from the same words and reads only from the source it is given', () => {
    const a = createDiscreteLaplaceSampler(discreteLaplaceScale(2, 1), seededWords(9));
    const b = createDiscreteLaplaceSampler(discreteLaplaceScale(2, 1), seededWords(9));
    const xs = Array.from({ length: 100 }, () => a.sample());
    expect(Array.from({ length: 100 }, () => b.sample())).toEqual(xs);
  });
});

describe('exact rational scales', () => {
  it('reads epsilons as the decimals they are written as', () => {
    expect(decimalToRational(0.1)).toEqual({ numerator: 1n, denominator: 10n });
    expect(decimalToRational(2.5e-3)).toEqual({ numerator: 1n, denominator: 400n });
    expect(decimalToRational(1e21)).toEqual({ numerator: 10n ** 21n, denominator: 1n });
    expect(decimalToRational(3)).toEqual({ numerator: 3n, denominator: 1n });
    expect(() => decimalToRational(0)).toThrow(RangeError);
    expect(() => decimalToRational(Number.NaN)).toThrow(RangeError);
  });

  it('scales to sensitivity / epsilon in lowest terms', () => {
    expect(discreteLaplaceScale(3, 0.5)).toEqual({ numerator: 6n, denominator: 1n });
    expect(discreteLaplaceScale(4, 0.6)).toEqual({ numerator: 20n, denominator: 3n });
    expect(() => discreteLaplaceScale(0, 1)).toThrow(RangeError);
    expect(() => discreteLaplaceScale(1.5, 1)).toThrow(RangeError);
  });

  it('handles scales whose parts exceed 32 bits', () => {
    const sampler = createDiscreteLaplaceSampler(discreteLaplaceScale(7, 1.23456789e-9), seededWords(3));
    const values = Array.from({ length: 50 }, () => sampler.sample());
    expect(values.every(Number.isSafeInteger)).toBe(true);
    // Scale about 5.7e9: typical magnitudes are in the billions.
    expect(values.filter((v) => Math.abs(v) > 1e7).length).toBeGreaterThan(40);
  });
});

/** The exact pmf of N_Z(0, sigma^2), normalised over a range wide enough to hold all its mass. */
function discreteGaussianPmf(sigma2: number): (x: number) => number {
  const reach = Math.ceil(40 * Math.sqrt(sigma2)) + 10;
  let z = 0;
  for (let x = -reach; x <= reach; x++) z += Math.exp(-(x * x) / (2 * sigma2));
  return (x) => Math.exp(-(x * x) / (2 * sigma2)) / z;
}

/** Chi-square of samples against a pmf over [-cut, cut], tails pooled into the end cells. */
function chiSquare(samples: Int32Array, pmf: (x: number) => number, cut: number): number {
  const counts = new Map<number, number>();
  for (const v of samples) {
    const c = Math.max(-cut, Math.min(cut, v));
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let inside = 0;
  for (let x = -cut + 1; x <= cut - 1; x++) inside += pmf(x);
  const tail = (1 - inside) / 2;
  let chi = 0;
  for (let x = -cut; x <= cut; x++) {
    const expected = samples.length * (Math.abs(x) === cut ? tail : pmf(x));
    chi += ((counts.get(x) ?? 0) - expected) ** 2 / expected;
  }
  return chi;
}

describe('discrete Gaussian sampler', () => {
  // sigma^2 = sensitivity2 / (2 rho): the defaults (12 counts per person, rho 0.01) give 600.
  it.each([
    { sensitivity2: 1, rho: 0.5, seed: 21 }, // sigma^2 = 1: the smallest interesting case
    { sensitivity2: 12, rho: 0.01, seed: 22 }, // the defaults for an 11-segment partner
    { sensitivity2: 3, rho: 0.7, seed: 23 }, // sigma^2 = 15/7: a non-integer rational
  ])(
    'has mean 0 and variance close to sigma^2 (sensitivity2 $sensitivity2, rho $rho)',
    ({ sensitivity2, rho, seed }) => {
      const sigma2q = discreteGaussianSigma2(sensitivity2, rho);
      const sigma2 = Number(sigma2q.numerator) / Number(sigma2q.denominator);
      const sampler = createDiscreteGaussianSampler(sigma2q, seededWords(seed));
      const n = 100_000;
      const samples = new Int32Array(n);
      for (let i = 0; i < n; i++) samples[i] = sampler.sample();
      const m = moments(samples);
      // The exact variance of N_Z(0, sigma^2), from its pmf.
      const pmf = discreteGaussianPmf(sigma2);
      let variance = 0;
      const reach = Math.ceil(40 * Math.sqrt(sigma2)) + 10;
      for (let x = -reach; x <= reach; x++) variance += x * x * pmf(x);
      expect(Math.abs(m.mean)).toBeLessThan(6 * Math.sqrt(variance / n));
      // Gaussian kurtosis: the sample variance has standard error about variance * sqrt(2 / n) (0.45 %).
      expect(m.variance / variance).toBeGreaterThan(0.97);
      expect(m.variance / variance).toBeLessThan(1.03);
      expect(Math.abs(m.positive - m.negative)).toBeLessThan(6 * Math.sqrt(m.positive + m.negative));
    },
  );

  it('matches the probability mass function cell by cell (chi-square, sigma^2 = 4)', () => {
    const sampler = createDiscreteGaussianSampler({ numerator: 4n, denominator: 1n }, seededWords(31));
    const samples = new Int32Array(N);
    for (let i = 0; i < N; i++) samples[i] = sampler.sample();
    // 16 degrees of freedom: P(chi2 > 60) is about 1e-6 (the documented false-alarm rate).
    expect(chiSquare(samples, discreteGaussianPmf(4), 8)).toBeLessThan(60);
  });

  it('a sigma 10 % too large fails the same chi-square test (the test has power)', () => {
    const sampler = createDiscreteGaussianSampler({ numerator: 121n, denominator: 25n }, seededWords(32));
    const samples = new Int32Array(N);
    for (let i = 0; i < N; i++) samples[i] = sampler.sample();
    expect(chiSquare(samples, discreteGaussianPmf(4), 8)).toBeGreaterThan(60);
  });

  it('works from the platform CSPRNG by default', () => {
    const sampler = createDiscreteGaussianSampler(discreteGaussianSigma2(12, 0.01));
    const samples = new Int32Array(20_000);
    for (let i = 0; i < samples.length; i++) samples[i] = sampler.sample();
    const m = moments(samples);
    expect(Math.abs(m.mean)).toBeLessThan(8 * Math.sqrt(600 / samples.length));
    expect(m.variance / 600).toBeGreaterThan(0.9);
    expect(m.variance / 600).toBeLessThan(1.1);
  });

  it('takes sigma^2 = sensitivity2 / (2 rho) exactly, in lowest terms', () => {
    expect(discreteGaussianSigma2(12, 0.01)).toEqual({ numerator: 600n, denominator: 1n });
    expect(discreteGaussianSigma2(3, 0.7)).toEqual({ numerator: 15n, denominator: 7n });
    expect(() => discreteGaussianSigma2(0, 0.1)).toThrow(RangeError);
  });
});
