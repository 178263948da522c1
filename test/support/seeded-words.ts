/**
 * Reproducible "random" words for the privacy tests: SHA-256 in counter mode over a seed, so a
 * noisy result is the same on every run (and fast-check can shrink the seed).
 */
import { createHash } from 'node:crypto';
import type { RandomWords } from '../../shared/domain/ports.ts';

export function seededWords(seed: string | number): RandomWords {
  let counter = 0;
  return (count) => {
    const out = new Uint32Array(count);
    for (let i = 0; i < count; i += 8) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      for (let j = 0; j < 8 && i + j < count; j++) out[i + j] = block.readUInt32LE(j * 4);
    }
    return out;
  };
}
