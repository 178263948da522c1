import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { nodeSha256 } from '../../shared/adapters/node-sha256.ts';
import { createIdentifierHasher, encodeDigest, nobleSha256 } from '../../shared/domain/identifiers/hash.ts';
import {
  INVALID_REASONS,
  type NormalizeOutcome,
  normalizeEmail,
  normalizeIdentifier,
  normalizePhone,
} from '../../shared/domain/identifiers/normalize.ts';
import { IDENTIFIER_KINDS, PROFILES, type Profile } from '../../shared/domain/model.ts';

const profile = fc.constantFrom(...PROFILES);
const kind = fc.constantFrom(...IDENTIFIER_KINDS);

/** Any UTF-16 code unit, unpaired surrogates included. */
const codeUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });
/** Blanks and invisible characters that every profile removes around a value. */
const blank = fc.constantFrom(
  ' ',
  '\t',
  '\n',
  '\r',
  '\u00A0',
  '\u0085',
  '\u2003',
  '\u3000',
  '\u200B',
  '\u2060',
  '\uFEFF',
);
const blanks = fc.string({ unit: blank, maxLength: 3 });

/** Email-shaped strings: mostly valid, with the characters that make normalization interesting. */
const localChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...'abcXYZ019_-') },
  { weight: 2, arbitrary: fc.constantFrom('.', '+') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('é', 'E\u0301', 'ß', 'İ', 'Σ', 'ǅ', '\u0301', '😊', ' ', '\u200B', '@'),
  },
);
const label = fc.string({ unit: fc.constantFrom(...'abcXYZ09-é'), minLength: 1, maxLength: 6 });
const domain = fc.oneof(
  fc.constantFrom('gmail.com', 'GMail.Com', 'googlemail.com', 'example.org', 'b.co'),
  fc.array(label, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.')),
);
const emailish = fc
  .tuple(blanks, fc.string({ unit: localChar, maxLength: 10 }), domain, blanks)
  .map(([a, local, d, b]) => `${a}${local}@${d}${b}`);
const anyString = fc.oneof(
  emailish,
  fc.string({ unit: 'binary' }),
  codeUnits,
  fc.string({ unit: 'grapheme' }),
);
const phoneish = fc.oneof(
  fc
    .tuple(fc.constantFrom('', '+', '+1 ', '+44 ', '('), fc.stringMatching(/^[0-9 ()-]{6,16}$/))
    .map(([p, d]) => p + d),
  anyString,
);

const ascii = (s: string) => [...s].every((c) => c.charCodeAt(0) < 0x80);
const flipAsciiCase = (s: string, mask: number) =>
  s.replace(/[a-zA-Z]/g, (c, i: number) =>
    (mask >> (i % 31)) & 1 ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c,
  );

function wellFormed(outcome: NormalizeOutcome): void {
  if (!outcome.ok) expect(INVALID_REASONS).toContain(outcome.reason);
  else if ('prehashed' in outcome) expect(outcome.prehashed.byteLength).toBe(32);
  else expect(outcome.value.length).toBeGreaterThan(0);
}

describe('never throws, always a typed outcome', () => {
  test('emails and phones, every profile, any string', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, phoneish), profile, kind, (raw, p, k) => {
        wellFormed(normalizeIdentifier(raw, { profile: p, kind: k }));
        const hasher = createIdentifierHasher({ profile: p, kind: k });
        const h = hasher.hash(raw);
        if (h.ok) expect(h.encoded).toMatch(/^([0-9a-f]{64}|[A-Za-z0-9+/]{43}=)$/);
        else expect(INVALID_REASONS).toContain(h.reason);
      }),
      { numRuns: 1000 },
    );
  });

  test('a valid email obeys the validity rules', () => {
    fc.assert(
      fc.property(anyString, profile, (raw, p) => {
        const out = normalizeEmail(raw, p);
        if (!out.ok || !('value' in out)) return;
        const [local = '', dom = '', ...rest] = out.value.split('@');
        expect(rest).toEqual([]);
        expect(local.replace(/\+.*$/, '').replaceAll('.', '')).not.toBe('');
        expect(out.value).not.toMatch(/\p{White_Space}|[\u200B-\u200D\u2060\uFEFF]/u);
        expect(dom.split('.').length).toBeGreaterThan(1);
        expect(dom.split('.')).not.toContain('');
        expect(out.value).toBe(out.value.normalize('NFC'));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('idempotent', () => {
  test('normalizing a normalized email gives it back', () => {
    fc.assert(
      fc.property(anyString, profile, (raw, p) => {
        const once = normalizeEmail(raw, p);
        if (once.ok && 'value' in once) expect(normalizeEmail(once.value, p)).toEqual(once);
      }),
      { numRuns: 2000 },
    );
  });

  test('normalizing a normalized phone gives it back (basic drops the +, so add it back)', () => {
    fc.assert(
      fc.property(
        phoneish,
        profile,
        fc.constantFrom('US', 'GB', 'FR', 'DE', 'IN') as fc.Arbitrary<'US'>,
        (raw, p, r) => {
          const once = normalizePhone(raw, p, r);
          if (!once.ok || !('value' in once)) return;
          const again = normalizePhone(p === 'basic' ? `+${once.value}` : once.value, p, r);
          expect(again).toEqual(once);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('invariant to what a user cannot see', () => {
  test('ASCII letter case (Unicode case is not invertible: ß, final sigma, dotless i)', () => {
    fc.assert(
      fc.property(anyString, profile, fc.integer(), (raw, p, mask) => {
        const a = normalizeEmail(raw, p);
        if (a.ok && 'prehashed' in a && p === 'uid2') return; // base64 is case-sensitive
        expect(normalizeEmail(flipAsciiCase(raw, mask), p)).toEqual(a);
      }),
      { numRuns: 1000 },
    );
  });

  test('surrounding blanks, zero-width characters and BOM', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, phoneish), blanks, blanks, profile, kind, (raw, a, b, p, k) => {
        const options = { profile: p, kind: k };
        expect(normalizeIdentifier(`${a}${raw}${b}`, options)).toEqual(normalizeIdentifier(raw, options));
      }),
      { numRuns: 1000 },
    );
  });

  test('the ASCII fast path agrees with the Unicode reference path', () => {
    // A trailing no-break space is trimmed by every profile but sends the input down the full path.
    const asciiEmail = fc.oneof(emailish.filter(ascii), fc.string({ unit: 'binary-ascii' }));
    fc.assert(
      fc.property(asciiEmail, profile, (raw, p) => {
        expect(normalizeEmail(`${raw}\u00A0`, p)).toEqual(normalizeEmail(raw, p));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('already-hashed input passes through', () => {
  const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });

  test('hex in any case, every profile and kind, re-encoded as asked', () => {
    fc.assert(
      fc.property(
        digest,
        fc.integer(),
        blanks,
        profile,
        kind,
        fc.constantFrom('hex', 'base64') as fc.Arbitrary<'hex'>,
        (bytes, mask, pad, p, k, enc) => {
          const raw = `${pad}${flipAsciiCase(encodeDigest(bytes, 'hex'), mask)}${pad}`;
          expect(normalizeIdentifier(raw, { profile: p, kind: k })).toEqual({ ok: true, prehashed: bytes });
          const h = createIdentifierHasher({ profile: p, kind: k, encoding: enc, digest: nodeSha256 });
          expect(h.hash(raw)).toEqual({ ok: true, encoded: encodeDigest(bytes, enc), prehashed: true });
          expect(h.digest(raw)).toEqual({ ok: true, digest: bytes });
        },
      ),
    );
  });

  test('base64 for uid2', () => {
    fc.assert(
      fc.property(digest, kind, (bytes, k) => {
        const raw = encodeDigest(bytes, 'base64');
        expect(normalizeIdentifier(raw, { profile: 'uid2', kind: k })).toEqual({
          ok: true,
          prehashed: bytes,
        });
      }),
    );
  });
});

describe('noble and node:crypto agree', () => {
  test('on arbitrary strings, unpaired surrogates included', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, codeUnits, fc.string({ unit: 'binary', maxLength: 300 })), (s) => {
        expect(nodeSha256.hex(s)).toBe(nobleSha256.hex(s));
        expect(nodeSha256.base64(s)).toBe(nobleSha256.base64(s));
        expect(nodeSha256.bytes(s)).toEqual(nobleSha256.bytes(s));
      }),
      { numRuns: 500 },
    );
  });

  test('end to end, through normalization', () => {
    fc.assert(
      fc.property(anyString, profile, (raw, p: Profile) => {
        const noble = createIdentifierHasher({ profile: p, kind: 'email' });
        const node = createIdentifierHasher({ profile: p, kind: 'email', digest: nodeSha256 });
        expect(node.hash(raw)).toEqual(noble.hash(raw));
        expect(node.digest(raw)).toEqual(noble.digest(raw));
      }),
      { numRuns: 500 },
    );
  });
});
