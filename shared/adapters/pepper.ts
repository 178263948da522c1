/**
 * The pepper ring: secret keys for HMAC-SHA256 of identifier digests at rest (docs/privacy.md, rule 6),
 * each with a key id so a new key can be rolled in while old items are re-keyed.
 * Stored as JSON `{ "current": "k1", "keys": { "k1": "<base64 32 bytes>" } }` (or flat,
 * `{ "current": "k1", "k1": "..." }`, as Secrets Manager generates it) in Secrets Manager
 * (AWS) or in a generated 0600 file (embedded stack).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { createDigestHmacChain } from '../domain/matching/digest-hmac.ts';
import type { AudienceKeyer } from '../domain/ports.ts';

// A letter first: JSON objects keep insertion order only for such keys (integer-like keys sort
// first), and the ring's order is the HMAC chain's.
const KeyIdSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/);
const PepperRingSchema = z.union([
  z.object({ current: KeyIdSchema, keys: z.record(KeyIdSchema, z.string().base64()) }),
  // The flat shape Secrets Manager can generate itself: every field but `current` is a key.
  z
    .object({ current: KeyIdSchema })
    .catchall(z.string().base64())
    .transform(({ current, ...keys }) => ({ current, keys: keys as Record<string, string> })),
]);

export interface PepperRing {
  readonly current: string;
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

export function parsePepperRing(text: string): PepperRing {
  const parsed = PepperRingSchema.parse(JSON.parse(text));
  const keys = new Map(
    Object.entries(parsed.keys).map(([id, b64]) => [id, new Uint8Array(Buffer.from(b64, 'base64'))]),
  );
  const current = keys.get(parsed.current);
  if (!current || current.length < 32)
    throw new Error(`pepper ring: current key ${parsed.current} missing or shorter than 32 bytes`);
  return { current: parsed.current, keys };
}

export function serializePepperRing(ring: PepperRing): string {
  const keys: Record<string, string> = {};
  for (const [id, key] of ring.keys) keys[id] = Buffer.from(key).toString('base64');
  return JSON.stringify({ current: ring.current, keys });
}

export function generatePepperRing(keyId = 'k1'): PepperRing {
  return { current: keyId, keys: new Map([[keyId, new Uint8Array(randomBytes(32))]]) };
}

/** Reads the local pepper file, creating it (mode 0600) on first use. */
export function loadOrCreatePepperFile(path: string): PepperRing {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, serializePepperRing(generatePepperRing()), { mode: 0o600 });
  }
  return parsePepperRing(readFileSync(path, 'utf8'));
}

export async function loadPepperSecret(client: SecretsManagerClient, secretId: string): Promise<PepperRing> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!out.SecretString) throw new Error('pepper secret has no string value');
  return parsePepperRing(out.SecretString);
}

/**
 * The keys of the ring up to `keyId`, oldest first. A key id's keyed value is the chain of HMACs
 * through every key up to it: HMAC(k2, HMAC(k1, digest)). That is what lets rotation re-key a
 * stored value without the digest it came from (which is never stored): apply the newer keys.
 */
function chainUpTo(ring: PepperRing, keyId: string): Uint8Array[] {
  const chain: Uint8Array[] = [];
  for (const [id, key] of ring.keys) {
    chain.push(key);
    if (id === keyId) return chain;
  }
  throw new Error(`pepper ring has no key ${keyId}`);
}

function applyChain(chain: readonly Uint8Array[], value: Uint8Array): string {
  let v: Uint8Array = value;
  for (const key of chain) v = createHmac('sha256', key).update(v).digest();
  return Buffer.from(v).toString('base64url');
}

/**
 * HMAC-SHA256 keyer for one key id of the ring: one digest on node:crypto, batches through the
 * pad states absorbed once (two SHA-256 blocks a digest, no object per digest; same bytes).
 */
export function hmacKeyer(ring: PepperRing, keyId: string = ring.current): AudienceKeyer {
  const chain = chainUpTo(ring, keyId);
  // HMAC hashes a key longer than SHA-256's 64-byte block first (RFC 2104).
  const batch = createDigestHmacChain(
    chain.map((key) => (key.length > 64 ? new Uint8Array(createHash('sha256').update(key).digest()) : key)),
  );
  return { keyId, key: (digest) => applyChain(chain, digest), keyInto: batch.keyInto };
}

/** Turns a value keyed under `fromKeyId` into the same value keyed under the later `toKeyId`. */
export function rekeyer(ring: PepperRing, fromKeyId: string, toKeyId: string): (key: string) => string {
  const older = chainUpTo(ring, fromKeyId).length;
  const newer = chainUpTo(ring, toKeyId).slice(older);
  if (newer.length === 0) throw new Error(`key ${toKeyId} is not newer than ${fromKeyId}`);
  return (key) => applyChain(newer, Buffer.from(key, 'base64url'));
}

/** The ring with one more key, made current. */
export function withNewKey(ring: PepperRing, keyId: string): PepperRing {
  if (ring.keys.has(keyId)) throw new Error(`pepper ring already has a key ${keyId}`);
  return { current: keyId, keys: new Map([...ring.keys, [keyId, new Uint8Array(randomBytes(32))]]) };
}

/** Rotates the local pepper file: a new current key; older ones stay for the chain. */
export function rotatePepperFile(path: string, keyId?: string): PepperRing {
  const ring = loadOrCreatePepperFile(path);
  const next = withNewKey(ring, keyId ?? `k${ring.keys.size + 1}`);
  writeFileSync(path, serializePepperRing(next), { mode: 0o600 });
  return next;
}
