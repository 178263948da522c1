/**
 * Golden vectors: every row of ../shared/vectors/identifier-vectors.tsv, with both SHA-256 encoders,
 * hex and base64. Columns: profile (or `any` = every profile), kind, raw_json, normalized_json (null =
 * must be rejected; "hash:<hex>" = already-hashed input passed through), sha256_hex, sha256_base64.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { nodeSha256 } from '../../shared/adapters/node-sha256.ts';
import { createIdentifierHasher, decodeDigest, nobleSha256 } from '../../shared/domain/identifiers/hash.ts';
import { normalizeIdentifier } from '../../shared/domain/identifiers/normalize.ts';
import { type IdentifierKind, PROFILES, type Profile } from '../../shared/domain/model.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The team's canonical file beside the repository, when it is there (it is in CI). */
const sharedVectors = path.resolve(repoRoot, '../shared/vectors/identifier-vectors.tsv');
/** A copy kept in the repository so the vectors run in any clone. */
const repoVectors = path.resolve(repoRoot, 'test/vectors/identifier-vectors.tsv');
const vectorsFile = existsSync(sharedVectors) ? sharedVectors : repoVectors;

test('the repository copy of the vectors is the canonical file', () => {
  if (!existsSync(sharedVectors)) return;
  expect(readFileSync(repoVectors, 'utf8')).toBe(readFileSync(sharedVectors, 'utf8'));
});

interface Vector {
  line: number;
  profile: Profile;
  kind: IdentifierKind;
  raw: string;
  /** null: must be rejected. */
  normalized: string | null;
  hex: string;
  base64: string;
  source: string;
}

function loadVectors(): Vector[] {
  const lines = readFileSync(vectorsFile, 'utf8').split('\n');
  const header = lines.find((l) => l.startsWith('profile\t'));
  expect(header?.split('\t')).toEqual([
    'profile',
    'kind',
    'raw_json',
    'normalized_json',
    'sha256_hex',
    'sha256_base64',
    'source',
  ]);
  const vectors: Vector[] = [];
  lines.forEach((text, index) => {
    if (text === '' || text.startsWith('#') || text === header) return;
    const [profile = '', kind = '', rawJson = '', normalizedJson = '', hex = '', base64 = '', source = ''] =
      text.split('\t');
    const profiles: Profile[] = profile === 'any' ? [...PROFILES] : [profile as Profile];
    for (const p of profiles) {
      expect(PROFILES).toContain(p);
      vectors.push({
        line: index + 1,
        profile: p,
        kind: kind as IdentifierKind,
        raw: JSON.parse(rawJson) as string,
        normalized: JSON.parse(normalizedJson) as string | null,
        hex,
        base64,
        source,
      });
    }
  });
  return vectors;
}

const vectors = loadVectors();
const accepted = vectors.filter((v) => v.normalized !== null);
const rejected = vectors.filter((v) => v.normalized === null);
const encoders = [
  ['noble', nobleSha256],
  ['node', nodeSha256],
] as const;

const name = (v: Vector) => `line ${v.line}: ${v.profile} ${v.kind} ${JSON.stringify(v.raw)}`;

test('the vectors file holds every kind of row', () => {
  expect(vectors.length).toBeGreaterThanOrEqual(160);
  expect(rejected.length).toBeGreaterThan(30);
  expect(accepted.some((v) => v.normalized?.startsWith('hash:'))).toBe(true);
  expect(accepted.some((v) => v.kind === 'phone')).toBe(true);
});

describe('normalization', () => {
  test.each(accepted.map((v) => [name(v), v] as const))('%s', (_, v) => {
    const outcome = normalizeIdentifier(v.raw, { profile: v.profile, kind: v.kind });
    if (v.normalized?.startsWith('hash:')) {
      expect(outcome).toEqual({ ok: true, prehashed: decodeDigest(v.normalized.slice(5)) });
    } else {
      expect(outcome).toEqual({ ok: true, value: v.normalized });
    }
  });

  test.each(rejected.map((v) => [name(v), v] as const))('%s is rejected', (_, v) => {
    const outcome = normalizeIdentifier(v.raw, { profile: v.profile, kind: v.kind });
    expect(outcome.ok).toBe(false);
  });
});

describe.each(encoders)('hashing with %s', (_, sha) => {
  test.each(accepted.map((v) => [name(v), v] as const))('%s', (_, v) => {
    const prehashed = v.normalized?.startsWith('hash:') ?? false;
    for (const [encoding, expected] of [
      ['hex', v.hex],
      ['base64', v.base64],
    ] as const) {
      const hasher = createIdentifierHasher({ profile: v.profile, kind: v.kind, encoding, digest: sha });
      expect(hasher.hash(v.raw)).toEqual({ ok: true, encoded: expected, prehashed });
      const digest = hasher.digest(v.raw);
      expect(digest.ok && Buffer.from(digest.digest).toString('hex')).toBe(v.hex);
    }
    // The normalized value itself hashes to the published digest.
    if (!prehashed && v.normalized !== null) {
      expect(sha.hex(v.normalized)).toBe(v.hex);
      expect(sha.base64(v.normalized)).toBe(v.base64);
    }
  });

  test.each(rejected.map((v) => [name(v), v] as const))('%s is never hashed', (_, v) => {
    const hasher = createIdentifierHasher({ profile: v.profile, kind: v.kind, digest: sha });
    const outcome = hasher.hash(v.raw);
    expect(outcome.ok).toBe(false);
    expect(hasher.digest(v.raw).ok).toBe(false);
  });
});
