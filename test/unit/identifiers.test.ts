import { describe, expect, test } from 'vitest';
import { createNodeIdentifierHasher, nodeSha256 } from '../../shared/adapters/node-sha256.ts';
import {
  createIdentifierHasher,
  decodeDigest,
  encodeDigest,
  nobleSha256,
  sha256Portable,
} from '../../shared/domain/identifiers/hash.ts';
import {
  INVALID_REASONS,
  normalizeEmail,
  normalizeIdentifier,
  normalizePhone,
} from '../../shared/domain/identifiers/normalize.ts';
import type { Profile } from '../../shared/domain/model.ts';

const value = (v: string) => ({ ok: true, value: v });
const reason = (r: string) => ({ ok: false, reason: r });

describe('normalizeEmail: every profile', () => {
  test.each<Profile>(['basic', 'google', 'uid2'])(
    '%s trims, drops zero-width characters, lowercases',
    (p) => {
      expect(normalizeEmail('  Jo@Example.COM \t\n', p)).toEqual(value('jo@example.com'));
      expect(normalizeEmail('\uFEFFjo@example.com', p)).toEqual(value('jo@example.com')); // BOM
      expect(normalizeEmail('\u200Bjo@example.com\u200D', p)).toEqual(value('jo@example.com'));
      expect(normalizeEmail('j\u200Bo@exa\u2060mple.com', p)).toEqual(value('jo@example.com')); // inside too
      expect(normalizeEmail('\u00A0\u3000jo@example.com\u2028\u0085', p)).toEqual(value('jo@example.com'));
      expect(normalizeEmail('\u200B \u200B', p)).toEqual(reason('empty'));
    },
  );

  test('NFC: decomposed and composed forms hash alike', () => {
    const composed = 'jos\u00E9@example.com';
    const decomposed = 'jose\u0301@example.com';
    expect(normalizeEmail(decomposed, 'basic')).toEqual(value(composed));
    expect(normalizeEmail('JOSE\u0301@EXAMPLE.COM', 'basic')).toEqual(value(composed));
    const h = createIdentifierHasher({ profile: 'basic', kind: 'email' });
    expect(h.hash(decomposed)).toEqual(h.hash(composed));
  });

  test('Unicode addresses are kept, lowercased', () => {
    expect(normalizeEmail('ÜBER@Bücher.DE', 'basic')).toEqual(value('über@bücher.de'));
    expect(normalizeEmail('😊a@b.co', 'uid2')).toEqual(value('😊a@b.co'));
  });

  test.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['plain', 'no-at-sign'],
    ['a@b@c.com', 'multiple-at-signs'],
    ['@x.com', 'empty-local-part'],
    ['+tag@x.com', 'empty-local-part'],
    ['.+tag@x.com', 'empty-local-part'],
    ['a b@x.com', 'inner-whitespace'],
    ['a@x\t.com', 'inner-whitespace'],
    ['a@', 'invalid-domain'],
    ['a@localhost', 'invalid-domain'],
    ['a@.x.com', 'invalid-domain'],
    ['a@x.com.', 'invalid-domain'],
    ['a@x..com', 'invalid-domain'],
    ['a\u0000b@x.com', 'control-character'],
    ['a\u007Fb@x.com', 'control-character'],
    ['a\uD800@x.com', 'malformed-unicode'],
    // A whole CSV row read as one identifier, a display name, quotes, brackets: never an address.
    ['jane@example.com,Jane,Doe,10001', 'forbidden-character'],
    ['jane@example.com;bob@example.com', 'forbidden-character'],
    ['Jane Doe <jane@example.com>', 'forbidden-character'],
    ['"jane doe"@example.com', 'forbidden-character'],
    ['jane@[192.168.0.1]', 'forbidden-character'],
    ['jane(work)@example.com', 'forbidden-character'],
    ['jane\\doe@example.com', 'forbidden-character'],
    ['mailto:jane@example.com', 'forbidden-character'],
    ['a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27aeX', 'invalid-hash'],
  ])('%j is refused as %s', (raw, why) => {
    expect(normalizeEmail(raw, 'basic')).toEqual(reason(why));
  });

  test('a local part may start with a dot when a mailbox remains (Meta is stricter)', () => {
    expect(normalizeEmail('.a@x.com', 'basic')).toEqual(value('.a@x.com'));
    expect(normalizeEmail('a..b@x.com', 'basic')).toEqual(value('a..b@x.com'));
  });

  test('every reason is kebab-case and listed once', () => {
    expect(new Set(INVALID_REASONS).size).toBe(INVALID_REASONS.length);
    for (const r of INVALID_REASONS) expect(r).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });
});

describe('normalizeEmail: profile rules', () => {
  test.each([
    ['basic', 'J.Doe+X@gmail.com', 'j.doe+x@gmail.com'],
    ['google', 'J.Doe+X@gmail.com', 'jdoe@gmail.com'],
    ['uid2', 'J.Doe+X@gmail.com', 'jdoe@gmail.com'],
    ['basic', 'J.Doe+X@googlemail.com', 'j.doe+x@googlemail.com'],
    ['google', 'J.Doe+X@googlemail.com', 'jdoe@googlemail.com'],
    ['uid2', 'J.Doe+X@googlemail.com', 'j.doe+x@googlemail.com'],
    ['google', 'J.Doe+X@GMAIL.COM', 'jdoe@gmail.com'],
    ['google', 'J.Doe+X@mail.gmail.com', 'j.doe+x@mail.gmail.com'],
    ['google', 'J.Doe+X@hotmail.com', 'j.doe+x@hotmail.com'],
    ['uid2', 'a+b+c@gmail.com', 'a@gmail.com'],
    ['uid2', 'a.b.c@gmail.com', 'abc@gmail.com'],
  ] as const)('%s: %s -> %s', (profile, raw, expected) => {
    expect(normalizeEmail(raw, profile)).toEqual(value(expected));
  });

  test('google removes inner whitespace, the others refuse it', () => {
    expect(normalizeEmail('jane doe @ example . com', 'google')).toEqual(value('janedoe@example.com'));
    expect(normalizeEmail('jane\u00A0doe@example.com', 'google')).toEqual(value('janedoe@example.com'));
    expect(normalizeEmail('jane doe@example.com', 'basic')).toEqual(reason('inner-whitespace'));
    expect(normalizeEmail('jane doe@example.com', 'uid2')).toEqual(reason('inner-whitespace'));
  });

  test('a gmail local part of only dots and a tag is refused', () => {
    expect(normalizeEmail('.+x@gmail.com', 'google')).toEqual(reason('empty-local-part'));
    expect(normalizeEmail('+x@gmail.com', 'uid2')).toEqual(reason('empty-local-part'));
  });

  test('removing dots that precede a combining mark recomposes (NFC last)', () => {
    expect(normalizeEmail('e.\u0301x@gmail.com', 'google')).toEqual(value('\u00E9x@gmail.com'));
  });
});

describe('already-hashed input', () => {
  const hex = '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b';
  const b64 = 'lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs=';

  test('64 hex in any case passes through every profile and kind', () => {
    for (const profile of ['basic', 'google', 'uid2'] as const) {
      for (const kind of ['email', 'phone'] as const) {
        const out = normalizeIdentifier(` ${hex.toUpperCase()} `, { profile, kind });
        expect(out).toEqual({ ok: true, prehashed: decodeDigest(hex) });
      }
    }
  });

  test('base64 passes through uid2 only', () => {
    expect(normalizeEmail(b64, 'uid2')).toEqual({ ok: true, prehashed: decodeDigest(hex) });
    expect(normalizeEmail(b64, 'basic').ok).toBe(false);
  });

  test('non-canonical base64 is not a digest', () => {
    expect(decodeDigest(`${b64.slice(0, 42)}t=`)).toBeUndefined(); // low bits set
    expect(decodeDigest(`${b64.slice(0, 43)}A`)).toBeUndefined();
  });

  test('the hasher re-encodes a pass-through and marks it', () => {
    const hex2 = createIdentifierHasher({ profile: 'uid2', kind: 'email', encoding: 'hex' });
    expect(hex2.hash(b64)).toEqual({ ok: true, encoded: hex, prehashed: true });
    const b = createIdentifierHasher({ profile: 'basic', kind: 'email', encoding: 'base64' });
    expect(b.hash(hex.toUpperCase())).toEqual({ ok: true, encoded: b64, prehashed: true });
  });

  test('encodeDigest and decodeDigest round-trip', () => {
    const bytes = sha256Portable(new TextEncoder().encode('x'));
    expect(decodeDigest(encodeDigest(bytes, 'hex'))).toEqual(bytes);
    expect(decodeDigest(encodeDigest(bytes, 'base64'))).toEqual(bytes);
    expect(encodeDigest(bytes, 'base64')).toBe(Buffer.from(bytes).toString('base64'));
  });
});

describe('normalizePhone', () => {
  test.each([
    ['basic', '(650) 555-1212', 'US', '16505551212'],
    ['google', '(650) 555-1212', 'US', '+16505551212'],
    ['google', '+1 650 555 1212 ext. 7', 'US', '+16505551212'],
    ['google', '020 7946 0958', 'GB', '+442079460958'],
    ['basic', '020 7946 0958', 'GB', '442079460958'],
    ['google', '06 12 34 56 78', 'FR', '+33612345678'],
    ['google', '030 1234567', 'DE', '+49301234567'],
    ['google', '(11) 91234-5678', 'BR', '+5511912345678'],
    ['google', '+81 3-1234-5678', 'US', '+81312345678'],
    ['basic', '374-93-828222', 'US', '37493828222'],
    ['google', '\u200B +1 650 555 1212\u00A0', 'US', '+16505551212'],
  ] as const)('%s %j in %s -> %s', (profile, raw, region, expected) => {
    expect(normalizePhone(raw, profile, region)).toEqual(value(expected));
  });

  test('the default region is US', () => {
    expect(normalizePhone('650-555-1212', 'google')).toEqual(value('+16505551212'));
  });

  test('uid2 takes only E.164', () => {
    expect(normalizePhone('+16505551212', 'uid2')).toEqual(value('+16505551212'));
    expect(normalizePhone('650-555-1212', 'uid2')).toEqual(reason('not-e164'));
    expect(normalizePhone('+1 650 555 1212', 'uid2')).toEqual(reason('not-e164'));
    expect(normalizePhone('+4402079460958', 'uid2')).toEqual(reason('not-e164')); // trunk 0 kept
    expect(normalizePhone('+15555555555', 'uid2')).toEqual(reason('invalid-phone'));
  });

  test.each(['', '12', 'call me', '+1 555 555 5555', '00000000000'])('%j is refused', (raw) => {
    expect(normalizePhone(raw, 'google').ok).toBe(false);
  });
});

describe('hashers', () => {
  test('node and noble encoders agree, in every shape', () => {
    for (const s of ['', 'a', 'test@example.com', 'über@bücher.de', '😊', 'x'.repeat(1000), 'a\uD800b']) {
      expect(nodeSha256.hex(s)).toBe(nobleSha256.hex(s));
      expect(nodeSha256.base64(s)).toBe(nobleSha256.base64(s));
      expect(nodeSha256.bytes(s)).toEqual(nobleSha256.bytes(s));
    }
  });

  test('node bytes are a fresh 32-byte array', () => {
    const d = nodeSha256.bytes('a');
    expect(d.byteLength).toBe(32);
    expect(d.buffer.byteLength).toBe(32);
  });

  test('the encoding defaults to the profile platform', () => {
    expect(createNodeIdentifierHasher({ profile: 'uid2', kind: 'email' }).encoding).toBe('base64');
    expect(createNodeIdentifierHasher({ profile: 'google', kind: 'email' }).encoding).toBe('hex');
  });

  test('hashEach and digestEach give what hash and digest give, in order', () => {
    const h = createNodeIdentifierHasher({ profile: 'google', kind: 'email' });
    const rows = Array.from({ length: 300 }, (_, i) =>
      i % 7 === 0 ? `bad ${i}` : ` User.${i}+x@GMail.com `,
    );
    const hashed: unknown[] = [];
    h.hashEach(rows, (o, i) => {
      hashed[i] = o;
    });
    expect(hashed).toEqual(rows.map((r) => h.hash(r)));
    const digests: unknown[] = [];
    h.digestEach(rows, (o, i) => {
      digests[i] = o;
    });
    expect(digests).toEqual(rows.map((r) => h.digest(r)));
  });

  test('an invalid row is never hashed', () => {
    const calls: string[] = [];
    const spy = {
      hex(s: string) {
        calls.push(s);
        return nodeSha256.hex(s);
      },
      base64(s: string) {
        calls.push(s);
        return nodeSha256.base64(s);
      },
      bytes(s: string) {
        calls.push(s);
        return nodeSha256.bytes(s);
      },
    };
    const h = createIdentifierHasher({ profile: 'basic', kind: 'email', digest: spy });
    expect(h.hash('nope')).toEqual(reason('no-at-sign'));
    expect(h.digest('a@b')).toEqual(reason('invalid-domain'));
    expect(calls).toEqual([]);
  });
});
