/**
 * Identifier normalization, byte-compatible with the ad platforms ("Identifier
 * normalization"). Pure and portable: no node: imports, so the same code runs in the browser console.
 *
 * Every profile: drop zero-width characters and the BOM, trim Unicode whitespace, NFC, lowercase.
 * - basic:  nothing more (Meta, Snap, X, TikTok, LiveRamp style).
 * - google: also removes inner whitespace; gmail.com and googlemail.com drop dots and the +tag.
 * - uid2:   gmail.com only drops dots and the +tag.
 * Then an email is valid only with exactly one '@', a non-empty local part, no inner whitespace and a
 * domain with at least one dot and no empty label. Already-hashed input (64 hex, or 44 base64 for
 * uid2) passes through as its 32 raw bytes.
 */
import type { CountryCode } from 'libphonenumber-js/min';
import { parsePhoneNumberFromString } from 'libphonenumber-js/min';
import type { IdentifierKind, Profile } from '../model.ts';
import { FORBIDDEN_CHARACTERS } from './email-bytes.ts';

export { normalizeEmailInto } from './email-bytes.ts';

export type { CountryCode };

/** Stable, kebab-case reasons an identifier is refused (reported per reason, never hashed). */
export const INVALID_REASONS = [
  'empty',
  'no-at-sign',
  'multiple-at-signs',
  'empty-local-part',
  'inner-whitespace',
  'invalid-domain',
  'control-character',
  'malformed-unicode',
  'invalid-hash',
  'invalid-phone',
  'not-e164',
  'forbidden-character',
] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

export type NormalizeRejection = { readonly ok: false; readonly reason: InvalidReason };
export type NormalizePassThrough = { readonly ok: true; readonly prehashed: Uint8Array };
export type NormalizeOutcome =
  | { readonly ok: true; readonly value: string }
  | NormalizePassThrough
  | NormalizeRejection;

/**
 * The allocation-free form used by hot loops: a bare string for a normalized value (the common case),
 * otherwise a pass-through or a (shared, frozen) rejection.
 */
export type CompactOutcome = string | NormalizePassThrough | NormalizeRejection;

export interface NormalizeOptions {
  profile: Profile;
  kind: IdentifierKind;
  /** Default region for phones written without a country code. Default 'US'. */
  region?: CountryCode | undefined;
}

export const DEFAULT_REGION: CountryCode = 'US';

/** One frozen rejection per reason, so refusing a row allocates nothing. */
const REJECT = Object.fromEntries(
  INVALID_REASONS.map((reason) => [reason, Object.freeze({ ok: false, reason })]),
) as unknown as Readonly<Record<InvalidReason, NormalizeRejection>>;

export function rejection(reason: InvalidReason): NormalizeRejection {
  return REJECT[reason];
}

// --- character classes -------------------------------------------------------------------------

/**
 * Invisible characters that copy-paste leaves behind: zero-width space/non-joiner/joiner, word
 * joiner, BOM. They are removed everywhere, not only at the ends: no one types them on purpose and
 * a hidden one would silently change the hash.
 */
const ZERO_WIDTH_G = /[\u200B-\u200D\u2060\uFEFF]/g;
/** Unicode White_Space (wider than JS \s: it includes U+0085 NEL). */
const TRIM = /^\p{White_Space}+|\p{White_Space}+$/gu;
const WHITESPACE = /\p{White_Space}/u;
const WHITESPACE_G = /\p{White_Space}/gu;
/** Controls other than whitespace (NUL, DEL, ...): garbage from a broken export, never an address. */
const CONTROL = /(?![\t-\r\u0085])\p{Cc}/u;
/**
 * Characters no address holds unquoted (RFC 5322 specials other than '@' and '.'): a comma or a
 * semicolon means a whole row or several addresses were read as one, angle brackets a display
 * name (`Jane <jane@x.com>`), quotes and brackets a quoted local part or an address literal that
 * no ad platform matches on.
 */
const FORBIDDEN = /[,;<>"()[\]\\:]/;
/** With the u flag, a surrogate class only matches an unpaired half. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const HEX64 = /^[0-9a-fA-F]{64}$/;
/** Canonical base64 of exactly 32 bytes: 43 symbols, the last with its 2 low bits zero, one '='. */
const BASE64_32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

// --- digests passed through ------------------------------------------------------------------

function hexNibble(c: number): number {
  // '0'-'9', 'A'-'F', 'a'-'f'; callers have validated the string.
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** 64 hex characters (any case) to 32 bytes; undefined for anything else. */
export function decodeHexDigest(hex: string): Uint8Array | undefined {
  if (!HEX64.test(hex)) return undefined;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = (hexNibble(hex.charCodeAt(2 * i)) << 4) | hexNibble(hex.charCodeAt(2 * i + 1));
  }
  return out;
}

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_VALUE[B64_ALPHABET.charCodeAt(i)] = i;

/** Canonical 44-character base64 to 32 bytes; undefined for anything else. */
export function decodeBase64Digest(b64: string): Uint8Array | undefined {
  if (!BASE64_32.test(b64)) return undefined;
  const out = new Uint8Array(32);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < 43; i++) {
    acc = ((acc << 6) | (B64_VALUE[b64.charCodeAt(i)] ?? 0)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** An already-hashed value, trimmed: hex for every profile, base64 too for uid2 (its native form). */
function passThrough(s: string, profile: Profile): NormalizePassThrough | undefined {
  const bytes =
    s.length === 64
      ? decodeHexDigest(s)
      : profile === 'uid2' && s.length === 44
        ? decodeBase64Digest(s)
        : undefined;
  return bytes ? { ok: true, prehashed: bytes } : undefined;
}

const LONG_HEX = /^[0-9a-fA-F]{32,}$/;

/** A value without '@' of a digest's length, or a long run of hex, was most likely a damaged hash. */
function looksLikeHash(s: string, profile: Profile): boolean {
  return s.length === 64 || (profile === 'uid2' && s.length === 44) || LONG_HEX.test(s);
}

// --- email ---------------------------------------------------------------------------------------

/**
 * Validity of a lowercased, trimmed email with exactly one '@' at `at`. Beyond RFC syntax, a local
 * part made only of dots and a +tag ("+@x.com", ".+@gmail.com") names no mailbox: the platforms that
 * canonicalize would reduce it to nothing, so every profile refuses it. (The fast path's scan
 * encodes the same rules.)
 */
function checkParts(s: string, at: number): InvalidReason | undefined {
  const c0 = s.charCodeAt(0);
  if (at === 0 || c0 === 0x2b /* + */ || (c0 === 0x2e /* . */ && !hasMailbox(s, at)))
    return 'empty-local-part';
  // Domain: at least one dot, no empty label (no leading, trailing or doubled dot).
  const dot = s.indexOf('.', at + 1);
  if (dot <= at + 1 || s.endsWith('.') || s.indexOf('..', dot) >= 0) return 'invalid-domain';
  return undefined;
}

/** Whether the local part has a character other than '.' before any '+'. */
function hasMailbox(s: string, at: number): boolean {
  for (let i = 0; i < at; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) return false;
    if (c !== 0x2e) return true;
  }
  return false;
}

/**
 * Applies the profile's mailbox rule to a valid, lowercased email: on gmail.com (uid2, google) and
 * googlemail.com (google) the local part loses its dots and its +tag. Suffix tests instead of a split:
 * this runs for every row.
 */
function canonicalEmail(s: string, profile: Profile): string {
  if (profile === 'basic' || !s.endsWith('mail.com')) return s;
  let at: number;
  if (s.endsWith('@gmail.com')) at = s.length - 10;
  else if (profile === 'google' && s.endsWith('@googlemail.com')) at = s.length - 15;
  else return s;
  const plus = s.indexOf('+'); // never in these domains, so any '+' is in the local part
  const dot = s.indexOf('.');
  if (plus < 0 && dot >= at) return s;
  const base = s.slice(0, plus < 0 ? at : plus);
  return (dot < at ? base.replaceAll('.', '') : base) + s.slice(at);
}

/**
 * The reference path, for any input: full Unicode handling. The ASCII fast path below hands every
 * unusual input over to it, so reasons are decided in one place.
 */
function normalizeEmailFull(raw: string, profile: Profile): CompactOutcome {
  let s = raw.replace(ZERO_WIDTH_G, '').replace(TRIM, '');
  if (s === '') return REJECT.empty;
  if (LONE_SURROGATE.test(s)) return REJECT['malformed-unicode'];
  if (CONTROL.test(s)) return REJECT['control-character'];
  if (FORBIDDEN.test(s)) return REJECT['forbidden-character'];
  const at = s.indexOf('@');
  if (at < 0) {
    const hashed = passThrough(s, profile);
    if (hashed) return hashed;
    return looksLikeHash(s, profile) ? REJECT['invalid-hash'] : REJECT['no-at-sign'];
  }
  // NFC first so lowercasing sees composed letters, and again at the end because removing
  // whitespace or dots can bring a combining mark next to a new base letter.
  s = s.normalize('NFC').toLowerCase();
  if (profile === 'google') s = s.replace(WHITESPACE_G, '');
  const first = s.indexOf('@');
  if (first < 0) return REJECT['no-at-sign'];
  if (s.indexOf('@', first + 1) >= 0) return REJECT['multiple-at-signs'];
  if (WHITESPACE.test(s)) return REJECT['inner-whitespace'];
  const bad = checkParts(s, first);
  if (bad) return REJECT[bad];
  return canonicalEmail(s, profile).normalize('NFC');
}

/**
 * Characters of a plain ASCII address outside its '.' and '@': the printable ASCII characters other
 * than the FORBIDDEN ones (1), uppercase letters marked apart (2) so the scan knows whether to
 * lowercase. Everything else (blanks inside, controls, non-ASCII) is left to the reference path.
 */
const PLAIN = new Uint8Array(128);
for (let c = 0x21; c <= 0x7e; c++) PLAIN[c] = c >= 0x41 && c <= 0x5a ? 2 : 1;
for (const c of `${FORBIDDEN_CHARACTERS}@.`) PLAIN[c.charCodeAt(0)] = 0;

/** The blanks an ASCII value may carry around it: tab, line feed, vertical tab, form feed, CR, space. */
function isAsciiBlank(c: number): boolean {
  return c === 0x20 || (c <= 0x0d && c >= 0x09);
}

/**
 * Normalizes an email to the string that is hashed. Fast path for nearly every real row: one pass
 * over the characters (no regex) proves the raw value a plain ASCII email (printable characters
 * other than the FORBIDDEN ones, a local part starting with neither '+' nor '.', one '@', and
 * dot-separated non-empty domain labels, ASCII blanks only around it). Such a value needs no NFC, no
 * zero-width stripping and no Unicode whitespace rules: only lowercasing when it has an uppercase
 * letter (lowercase before trimming: lowercasing a slice costs more), trimming when a blank is at an
 * end, and the profile's mailbox rule when the local part has a dot or a '+'. Everything else takes
 * the reference path, so reasons are decided in one place; a property test holds the two equal.
 */
export function normalizeEmailCompact(raw: string, profile: Profile): CompactOutcome {
  const n = raw.length;
  let start = 0;
  while (start < n && isAsciiBlank(raw.charCodeAt(start))) start++;
  let end = n;
  while (end > start && isAsciiBlank(raw.charCodeAt(end - 1))) end--;
  const first = raw.charCodeAt(start);
  if (start === end || first === 0x2b /* + */ || first === 0x2e /* . */ || first === 0x40 /* @ */)
    return normalizeEmailFull(raw, profile);
  let upper = false;
  let mailboxMarks = false; // a '.' or '+' in the local part
  let i = start;
  for (; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x40 /* @ */) break;
    if (c === 0x2e || c === 0x2b) {
      mailboxMarks = true;
      continue;
    }
    const kind = c < 0x80 ? (PLAIN[c] as number) : 0;
    if (kind === 0) return normalizeEmailFull(raw, profile);
    if (kind === 2) upper = true;
  }
  if (i === end) return normalizeEmailFull(raw, profile);
  // The domain: dot-separated labels, each non-empty, at least two of them.
  let label = 0;
  let dots = 0;
  for (i++; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0) return normalizeEmailFull(raw, profile);
      dots++;
      label = 0;
      continue;
    }
    const kind = c < 0x80 ? (PLAIN[c] as number) : 0;
    if (kind === 0) return normalizeEmailFull(raw, profile);
    if (kind === 2) upper = true;
    label++;
  }
  if (label === 0 || dots === 0) return normalizeEmailFull(raw, profile);
  const lower = upper ? raw.toLowerCase() : raw;
  const s = start > 0 || end < n ? lower.slice(start, end) : lower;
  return mailboxMarks && profile !== 'basic' ? canonicalEmail(s, profile) : s;
}

/** The reference normalization alone (every input through full Unicode handling), for tests. */
export function normalizeEmailReference(raw: string, profile: Profile): CompactOutcome {
  return normalizeEmailFull(raw, profile);
}

// --- phone -----------------------------------------------------------------------------------------

const E164 = /^\+[1-9]\d{1,14}$/;

/**
 * Normalizes a phone number with libphonenumber metadata ('min': digit validation good enough for the
 * vectors at about half the size of 'max', which matters for the browser and Lambda bundles).
 * basic: digits with country code, no '+'; google and uid2: E.164. uid2 accepts only input that is
 * already E.164, as its operator does.
 */
export function normalizePhoneCompact(
  raw: string,
  profile: Profile,
  region: CountryCode = DEFAULT_REGION,
): CompactOutcome {
  const s = raw.replace(ZERO_WIDTH_G, '').replace(TRIM, '');
  if (s === '') return REJECT.empty;
  const hashed = passThrough(s, profile);
  if (hashed) return hashed;
  if (LONE_SURROGATE.test(s)) return REJECT['malformed-unicode'];
  if (profile === 'uid2') {
    if (!E164.test(s)) return REJECT['not-e164'];
    const parsed = parsePhoneNumberFromString(s);
    if (!parsed?.isValid()) return REJECT['invalid-phone'];
    // E.164 syntax is not enough: "+440844..." keeps a trunk prefix that E.164 never has.
    return parsed.number === s ? s : REJECT['not-e164'];
  }
  let parsed = parsePhoneNumberFromString(s, region);
  if (!parsed?.isValid() && !s.startsWith('+')) {
    // Digits that already carry a country code ("374-93-828222", as TikTok files hold them).
    const digits = s.replace(/\D/g, '');
    if (digits.length >= 8 && digits.length <= 15) parsed = parsePhoneNumberFromString(`+${digits}`);
  }
  if (!parsed?.isValid()) return REJECT['invalid-phone'];
  return profile === 'basic' ? parsed.number.slice(1) : parsed.number;
}

// --- public API ----------------------------------------------------------------------------------

function expand(outcome: CompactOutcome): NormalizeOutcome {
  return typeof outcome === 'string' ? { ok: true, value: outcome } : outcome;
}

export function normalizeEmail(raw: string, profile: Profile): NormalizeOutcome {
  return expand(normalizeEmailCompact(raw, profile));
}

export function normalizePhone(raw: string, profile: Profile, region?: CountryCode): NormalizeOutcome {
  return expand(normalizePhoneCompact(raw, profile, region));
}

export function normalizeIdentifierCompact(raw: string, options: NormalizeOptions): CompactOutcome {
  return options.kind === 'email'
    ? normalizeEmailCompact(raw, options.profile)
    : normalizePhoneCompact(raw, options.profile, options.region);
}

export function normalizeIdentifier(raw: string, options: NormalizeOptions): NormalizeOutcome {
  return expand(normalizeIdentifierCompact(raw, options));
}
