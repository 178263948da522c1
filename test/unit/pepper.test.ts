import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generatePepperRing,
  hmacKeyer,
  loadOrCreatePepperFile,
  parsePepperRing,
  rekeyer,
  rotatePepperFile,
  serializePepperRing,
  withNewKey,
} from '../../shared/adapters/pepper.ts';
import { createPortableKeyer } from '../../shared/domain/matching/keyer.ts';

const digest = createHash('sha256').update('jane.doe@example.com').digest();

describe('pepper ring', () => {
  it('keys a digest as HMAC-SHA256 under the pepper, never as the plain hash', () => {
    const ring = generatePepperRing();
    const key = hmacKeyer(ring).key(digest);
    const secret = ring.keys.get('k1') as Uint8Array;
    expect(key).toBe(createHmac('sha256', secret).update(digest).digest('base64url'));
    expect(key).not.toBe(digest.toString('base64url'));
    expect(createPortableKeyer('k1', secret).key(digest)).toBe(key);
  });

  it('re-keys a stored value to the new key id without the digest', () => {
    const ring = withNewKey(generatePepperRing('k1'), 'k2');
    const old = hmacKeyer(ring, 'k1').key(digest);
    expect(rekeyer(ring, 'k1', 'k2')(old)).toBe(hmacKeyer(ring, 'k2').key(digest));
    expect(hmacKeyer(ring).keyId).toBe('k2');
    expect(() => rekeyer(ring, 'k2', 'k1')).toThrow();
  });

  it('reads both the nested and the flat (Secrets Manager generated) shapes', () => {
    const ring = generatePepperRing();
    expect(parsePepperRing(serializePepperRing(ring)).keys.get('k1')).toEqual(ring.keys.get('k1'));
    const flat = parsePepperRing(JSON.stringify({ current: 'k1', k1: 'A'.repeat(44) }));
    expect(flat.current).toBe('k1');
    expect(() => parsePepperRing(JSON.stringify({ current: 'k9', keys: { k1: 'AAAA' } }))).toThrow();
  });

  it('creates the local file once, private to its owner, and rotates it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pepper-'));
    const path = join(dir, 'pepper.json');
    try {
      const first = loadOrCreatePepperFile(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(loadOrCreatePepperFile(path).keys.get('k1')).toEqual(first.keys.get('k1'));
      const rotated = rotatePepperFile(path);
      expect(rotated.current).toBe('k2');
      expect(parsePepperRing(readFileSync(path, 'utf8')).keys.size).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
