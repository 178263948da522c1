/**
 * The email fast paths (the string one of normalizeEmailCompact and the byte one of
 * normalizeEmailInto, which the hashers use) against the reference normalization: for any input,
 * the same outcome, byte for byte. The generators lean on what the fast paths decide themselves:
 * ASCII blanks, uppercase, dots, plus tags, gmail.com and googlemail.com in any case, and the
 * characters that must send a value to the reference path (Unicode, controls, specials).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { nodeSha256 } from '../../shared/adapters/node-sha256.ts';
import { createIdentifierHasher, encodeDigest, nobleSha256 } from '../../shared/domain/identifiers/hash.ts';
import {
  normalizeEmailCompact,
  normalizeEmailInto,
  normalizeEmailReference,
} from '../../shared/domain/identifiers/normalize.ts';
import { PROFILES } from '../../shared/domain/model.ts';

const profile = fc.constantFrom(...PROFILES);

/** Mostly plain address characters, with every kind of character the scan must judge. */
const char = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...'abcxyzABCXYZ0189_-') },
  { weight: 4, arbitrary: fc.constantFrom('.', '+', '@') },
  { weight: 2, arbitrary: fc.constantFrom(' ', '\t', '\n', '\v', '\f', '\r') },
  { weight: 2, arbitrary: fc.constantFrom(..."!#$%&'*/=?^`{|}~") },
  { weight: 2, arbitrary: fc.constantFrom(...',;<>"()[]\\:') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '\u0000',
      '\u001c',
      '\u001f',
      '\u007f',
      '\u0085',
      '\u00a0',
      'é',
      'E\u0301',
      'İ',
      'K', // Kelvin sign: lowercases to ASCII 'k'
      'ß',
      '\u200b',
      '\u2060',
      '\ufeff',
      '\u3000',
      '😊',
      '\ud800',
    ),
  },
);
const text = (maxLength: number) => fc.string({ unit: char, maxLength });
const blanks = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r', '\v', '\f'), maxLength: 3 });
const domain = fc.oneof(
  fc.constantFrom(
    'gmail.com',
    'GMAIL.COM',
    'GMail.com',
    'googlemail.com',
    'GoogleMail.COM',
    'gmail.co',
    'xgmail.com',
    'gmail.com.',
    'mail.com',
    'example.org',
    'a.b',
    'a..b',
    '.a.b',
    'ab',
  ),
  text(12),
);
const emailish = fc
  .tuple(blanks, text(12), fc.constantFrom('@', '@', '@', '', '@@'), domain, blanks)
  .map(([a, local, at, d, b]) => `${a}${local}${at}${d}${b}`);
const input = fc.oneof(
  { weight: 6, arbitrary: emailish },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii' }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme' }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
);

const utf8 = new TextEncoder();
const runs = { numRuns: 20_000 };

describe('email fast paths equal the reference normalization', () => {
  test('the string fast path: the same outcome for any input', () => {
    fc.assert(
      fc.property(input, profile, (raw, p) => {
        expect(normalizeEmailCompact(raw, p)).toEqual(normalizeEmailReference(raw, p));
      }),
      runs,
    );
  });

  test('the byte fast path: the reference value as UTF-8 bytes whenever it decides', () => {
    const out = new Uint8Array(64);
    fc.assert(
      fc.property(input, profile, (raw, p) => {
        out.fill(0xff);
        const n = normalizeEmailInto(raw, p, out);
        const reference = normalizeEmailReference(raw, p);
        if (n < 0) return;
        expect(typeof reference).toBe('string');
        expect([...out.subarray(0, n)]).toEqual([...utf8.encode(reference as string)]);
      }),
      runs,
    );
  });

  test('the byte fast path decides plain ASCII emails (not everything falls back)', () => {
    const out = new Uint8Array(64);
    for (const p of PROFILES) {
      expect(normalizeEmailInto(' \tJane.Doe+X@GMail.COM\r\n', p, out)).toBeGreaterThan(0);
      expect(normalizeEmailInto('john@example.org', p, out)).toBe('john@example.org'.length);
    }
    expect(normalizeEmailInto('x'.repeat(65), 'basic', out)).toBe(-1);
    // google removes whitespace everywhere, so blanks inside no longer send a value to the reference.
    expect(normalizeEmailInto(' Jane. Doe +x@ GMail.com ', 'google', out)).toBe('janedoe@gmail.com'.length);
  });

  /** Plain ASCII emails of any shape: blanks around, dots and tags, gmail and other domains. */
  const plainChar = fc.constantFrom(..."abcxyzABCXYZ0189_-!#$%&'*/=?^`{|}~");
  const plainRun = fc.string({ unit: plainChar, minLength: 1, maxLength: 6 });
  const plainEmail = fc
    .tuple(
      blanks,
      plainRun,
      fc.array(fc.tuple(fc.constantFrom('.', '+', '..', '.+', ''), plainRun), { maxLength: 3 }),
      fc.constantFrom('', '.', '+', '+x.y'),
      fc.oneof(
        fc.constantFrom('gmail.com', 'GMAIL.COM', 'googlemail.com', 'GoogleMail.Com', 'gmail.co'),
        fc
          .array(fc.string({ unit: fc.constantFrom(...'abcXYZ09-+_'), minLength: 1, maxLength: 5 }), {
            minLength: 2,
            maxLength: 4,
          })
          .map((labels) => labels.join('.')),
      ),
      blanks,
    )
    .map(([a, head, rest, tail, domain, b]) => `${a}${head}${rest.flat().join('')}${tail}@${domain}${b}`);

  test('the byte fast path decides every plain ASCII email, as the reference does', () => {
    const out = new Uint8Array(320);
    fc.assert(
      fc.property(plainEmail, profile, (raw, p) => {
        const n = normalizeEmailInto(raw, p, out);
        const reference = normalizeEmailReference(raw, p);
        expect(typeof reference).toBe('string');
        expect(n).toBeGreaterThan(0);
        expect(Buffer.from(out.subarray(0, n)).toString('latin1')).toBe(reference);
      }),
      runs,
    );
  });

  test('hashers (node:crypto and noble, every encoding) give the hash of the reference value', () => {
    const hashers = PROFILES.flatMap((p) =>
      [nodeSha256, nobleSha256].flatMap((digest) =>
        (['hex', 'base64'] as const).map((encoding) => ({
          p,
          encoding,
          digest,
          h: createIdentifierHasher({ profile: p, kind: 'email', encoding, digest }),
        })),
      ),
    );
    fc.assert(
      fc.property(input, (raw) => {
        for (const { p, encoding, digest, h } of hashers) {
          const reference = normalizeEmailReference(raw, p);
          const got = h.hash(raw);
          if (typeof reference === 'string') {
            expect(got).toEqual({
              ok: true,
              encoded: (encoding === 'hex' ? digest.hex : digest.base64)(reference),
              prehashed: false,
            });
            expect(h.digest(raw)).toEqual({ ok: true, digest: digest.bytes(reference) });
          } else if (reference.ok) {
            expect(got).toEqual({
              ok: true,
              encoded: encodeDigest(reference.prehashed, encoding),
              prehashed: true,
            });
          } else {
            expect(got).toEqual(reference);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
