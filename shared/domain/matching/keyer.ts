/**
 * A portable AudienceKeyer: HMAC-SHA256 under the pepper, base64url without padding (the same
 * bytes as Node's `createHmac('sha256', pepper).update(digest).digest('base64url')`). Pure
 * JavaScript (@noble/hashes), so it runs in the domain core, in browsers and in tests alike.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { AudienceKeyer } from '../ports.ts';
import { createDigestHmac } from './digest-hmac.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url without padding (RFC 4648 section 5). */
export function base64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out +=
      ALPHABET.charAt(n >>> 18) +
      ALPHABET.charAt((n >>> 12) & 63) +
      ALPHABET.charAt((n >>> 6) & 63) +
      ALPHABET.charAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] ?? 0) << 16;
    out += ALPHABET.charAt(n >>> 18) + ALPHABET.charAt((n >>> 12) & 63);
  } else if (rest === 2) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += ALPHABET.charAt(n >>> 18) + ALPHABET.charAt((n >>> 12) & 63) + ALPHABET.charAt((n >>> 6) & 63);
  }
  return out;
}

export function createPortableKeyer(keyId: string, pepper: Uint8Array): AudienceKeyer {
  if (pepper.length < 16) throw new RangeError('the pepper must be at least 16 bytes');
  // Key the HMAC once; each digest only clones the keyed state.
  const keyed = hmac.create(sha256, pepper);
  // Batches: two SHA-256 blocks a digest with the pad states absorbed once (keys up to a block).
  const batch = pepper.length <= 64 ? createDigestHmac(pepper) : undefined;
  return {
    keyId,
    key(digest: Uint8Array): string {
      return base64url(keyed.clone().update(digest).digest());
    },
    ...(batch ? { keyInto: batch.keyInto } : {}),
  };
}
