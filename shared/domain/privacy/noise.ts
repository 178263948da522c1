/**
 * Exact samplers of the discrete Laplace and discrete Gaussian distributions.
 *
 * Discrete Laplace (two-sided geometric) noise:
 * The distribution with scale t: P(X = x) = (1 - p) / (1 + p) * p^|x| with p = exp(-1/t), variance
 * 2p / (1 - p)^2. Sampling follows Canonne, Kamath and Steinke, "The Discrete Gaussian for
 * Differential Privacy" (2020), Algorithms 1 and 2: only integer arithmetic on a rational scale and
 * uniform integers drawn by rejection from a cryptographic source. No floating-point logarithm is
 * involved, so none of the floating-point artefacts that break naive Laplace samplers (Mironov 2012)
 * can leak through the low bits or truncate the tails.
 */
import type { RandomWords } from '../ports.ts';

/** The default source: the platform's CSPRNG (Web Crypto, present in Node 20 and browsers). */
export const cryptoRandomWords: RandomWords = (count) => {
  const words = new Uint32Array(count);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let offset = 0; offset < count; offset += 16_384) {
    globalThis.crypto.getRandomValues(words.subarray(offset, Math.min(count, offset + 16_384)));
  }
  return words;
};

/** A positive rational, numerator / denominator, in lowest terms. */
export interface Rational {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function rational(numerator: bigint, denominator: bigint): Rational {
  const g = gcd(numerator, denominator);
  return { numerator: numerator / g, denominator: denominator / g };
}

/**
 * The exact rational a finite positive number is written as in its shortest decimal form:
 * 0.1 is 1/10 (not the binary double nearest to it), 2.5e-3 is 1/400.
 */
export function decimalToRational(value: number): Rational {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError('expected a finite positive number');
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(value.toString());
  if (!match) throw new RangeError('unexpected number format');
  const [, whole = '0', fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText) - fraction.length;
  const digits = BigInt(whole + fraction);
  return exponent >= 0
    ? rational(digits * 10n ** BigInt(exponent), 1n)
    : rational(digits, 10n ** BigInt(-exponent));
}

/** Scale of the noise that makes releasing counts of the given L1 sensitivity epsilon-DP. */
export function discreteLaplaceScale(sensitivity: number, epsilon: number): Rational {
  if (!Number.isInteger(sensitivity) || sensitivity < 1)
    throw new RangeError('sensitivity must be an integer >= 1');
  const eps = decimalToRational(epsilon);
  return rational(BigInt(sensitivity) * eps.denominator, eps.numerator);
}

/** Variance of the discrete Laplace distribution of a (numeric) scale: 2p / (1 - p)^2, p = e^(-1/t). */
export function discreteLaplaceVariance(scale: number): number {
  const p = Math.exp(-1 / scale);
  return (2 * p) / (1 - p) ** 2;
}

/** Reads 32-bit words from a RandomWords source in blocks (one CSPRNG call per block, not per word). */
export class WordReader {
  private block: Uint32Array = new Uint32Array(0);
  private next = 0;

  constructor(
    private readonly random: RandomWords,
    private readonly blockSize: number,
  ) {}

  word(): number {
    if (this.next >= this.block.length) {
      this.block = this.random(this.blockSize);
      this.next = 0;
      if (this.block.length === 0) throw new Error('the random source returned no words');
    }
    // biome-ignore lint/style/noNonNullAssertion: bounds checked above.
    return this.block[this.next++]!;
  }

  /** Uniform integer in [0, n), n >= 1, by rejection (no modulo bias). */
  below(n: bigint): bigint {
    if (n <= 0x1_0000_0000n) {
      const m = Number(n);
      const limit = Math.floor(0x1_0000_0000 / m) * m;
      for (;;) {
        const w = this.word();
        if (w < limit) return BigInt(w % m);
      }
    }
    const bits = (n - 1n).toString(2).length;
    const words = Math.ceil(bits / 32);
    const mask = (1n << BigInt(bits)) - 1n;
    for (;;) {
      let v = 0n;
      for (let i = 0; i < words; i++) v = (v << 32n) | BigInt(this.word());
      v &= mask;
      if (v < n) return v;
    }
  }

  /** Bernoulli(numerator / denominator), 0 <= numerator <= denominator. */
  bernoulli(numerator: bigint, denominator: bigint): boolean {
    return this.below(denominator) < numerator;
  }

  /** Bernoulli(exp(-numerator / denominator)) for any numerator >= 0 (CKS Algorithm 1). */
  bernoulliExp(numerator: bigint, denominator: bigint): boolean {
    let n = numerator;
    while (n > denominator) {
      if (!this.bernoulliExpAtMostOne(1n, 1n)) return false;
      n -= denominator;
    }
    return this.bernoulliExpAtMostOne(n, denominator);
  }

  private bernoulliExpAtMostOne(numerator: bigint, denominator: bigint): boolean {
    let k = 1n;
    while (this.bernoulli(numerator, denominator * k)) k += 1n;
    return k % 2n === 1n;
  }
}

/** Draws discrete Laplace samples of one scale; reuse it for many draws. */
export interface DiscreteLaplaceSampler {
  readonly scale: Rational;
  sample(): number;
}

/**
 * A sampler of the discrete Laplace distribution with the given scale (t = numerator/denominator):
 * P(x) proportional to exp(-|x| / t). CKS Algorithm 2 with t = numerator and s = denominator.
 */
export function createDiscreteLaplaceSampler(
  scale: Rational,
  random: RandomWords = cryptoRandomWords,
  blockSize = 64,
): DiscreteLaplaceSampler {
  const t = scale.numerator;
  const s = scale.denominator;
  if (t <= 0n || s <= 0n) throw new RangeError('scale must be positive');
  const reader = new WordReader(random, blockSize);
  return {
    scale,
    sample(): number {
      for (;;) {
        const u = reader.below(t);
        if (!reader.bernoulliExp(u, t)) continue;
        let v = 0n;
        while (reader.bernoulliExp(1n, 1n)) v += 1n;
        const x = u + t * v; // geometric with parameter 1 - exp(-1/t)
        const y = x / s; // geometric with parameter 1 - exp(-s/t)
        const negative = (reader.word() & 1) === 1;
        if (negative && y === 0n) continue;
        return Number(negative ? -y : y);
      }
    },
  };
}

/** One discrete Laplace sample with scale sensitivity / epsilon (epsilon-DP for that L1 sensitivity). */
export function sampleDiscreteLaplace(
  params: { readonly sensitivity: number; readonly epsilon: number },
  random: RandomWords = cryptoRandomWords,
): number {
  // A small block: a single draw rarely needs more than a dozen words.
  return createDiscreteLaplaceSampler(
    discreteLaplaceScale(params.sensitivity, params.epsilon),
    random,
    16,
  ).sample();
}

/** Largest integer n with n * n <= value (value >= 0). */
function isqrt(value: bigint): bigint {
  if (value < 2n) return value;
  let x = BigInt(Math.floor(Math.sqrt(Number(value))));
  while (x * x > value) x -= 1n;
  while ((x + 1n) * (x + 1n) <= value) x += 1n;
  return x;
}

/** Draws discrete Gaussian samples of one variance; reuse it for many draws. */
export interface DiscreteGaussianSampler {
  /** sigma^2 of the continuous Gaussian the distribution is built on, as an exact rational. */
  readonly sigma2: Rational;
  sample(): number;
}

/**
 * A sampler of the discrete Gaussian N_Z(0, sigma^2): P(x) proportional to exp(-x^2 / (2 sigma^2))
 * over the integers. CKS Algorithm 3: draw Y from the discrete Laplace of scale t = floor(sigma) + 1,
 * keep it with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)). Every step is integer arithmetic
 * on the rational sigma^2 = a / b and uniform words from the source.
 */
export function createDiscreteGaussianSampler(
  sigma2: Rational,
  random: RandomWords = cryptoRandomWords,
  blockSize = 64,
): DiscreteGaussianSampler {
  const a = sigma2.numerator;
  const b = sigma2.denominator;
  if (a <= 0n || b <= 0n) throw new RangeError('sigma^2 must be positive');
  const t = isqrt(a / b) + 1n;
  const laplace = createDiscreteLaplaceSampler({ numerator: t, denominator: 1n }, random, blockSize);
  const reader = new WordReader(random, blockSize);
  // (|Y| - a/(b t))^2 / (2 a / b) = (|Y| b t - a)^2 / (2 a b t^2)
  const denominator = 2n * a * b * t * t;
  return {
    sigma2,
    sample(): number {
      for (;;) {
        const y = BigInt(laplace.sample());
        const magnitude = y < 0n ? -y : y;
        const d = magnitude * b * t - a;
        if (reader.bernoulliExp(d * d, denominator)) return Number(y);
      }
    },
  };
}

/**
 * sigma^2 of the discrete Gaussian that makes a release of L2 sensitivity sqrt(sensitivity2)
 * rho-zCDP: sigma^2 = sensitivity2 / (2 rho) (CKS Theorem 4), exact from rho's decimal form.
 */
export function discreteGaussianSigma2(sensitivity2: number, rho: number): Rational {
  if (!Number.isInteger(sensitivity2) || sensitivity2 < 1)
    throw new RangeError('sensitivity2 must be an integer >= 1');
  const r = decimalToRational(rho);
  return rational(BigInt(sensitivity2) * r.denominator, 2n * r.numerator);
}

/** The variance of N_Z(0, sigma^2) is at most sigma^2 (CKS Proposition 19); close to it for sigma >= 1. */
export function rationalValue(value: Rational): number {
  return Number(value.numerator) / Number(value.denominator);
}
