/**
 * Every reason code the console shows, in words: suppressions of a result, invalid rows of a list
 * and rejected rows of a partner file. One map; a code it does not know (the service may add some)
 * is shown as its words rather than hidden.
 */
const WORDS: Readonly<Record<string, string>> = {
  // Why a released count is withheld.
  'below-k': 'fewer people than the minimum segment size (k)',
  'rounding-edge': 'it rounds to a value under the minimum segment size (k)',
  // Why a row of a list or a members file was not used.
  empty: 'empty',
  'line-too-long': 'line too long',
  'malformed-csv': 'broken CSV quoting',
  'no-at-sign': 'no @ sign',
  'multiple-at-signs': 'more than one @ sign',
  'empty-local-part': 'nothing before the @',
  'inner-whitespace': 'spaces inside the address',
  'invalid-domain': 'not a valid domain',
  'control-character': 'control characters',
  'malformed-unicode': 'broken characters',
  'invalid-hash': 'not a SHA-256 hash',
  'invalid-phone': 'not a valid phone number',
  'not-e164': 'phone not in +country format (E.164)',
  'missing-segment': 'no segment id',
  'unknown-segment': 'a segment not declared in this upload',
};

/** The reason in words (a code without a wording reads as its words: `new-rule` -> `new rule`). */
export function reasonInWords(code: string): string {
  return Object.hasOwn(WORDS, code) ? (WORDS[code] as string) : code.replace(/[-_]+/g, ' ');
}
