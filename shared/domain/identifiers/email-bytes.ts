/**
 * The email byte path: a plain ASCII email normalized straight into bytes for hashing, in one pass
 * with no branch on what the characters are. Pure and portable (no node: imports).
 *
 * Why branch-free: on real lists the dots, '+' tags, '@' and surrounding blanks sit at a different
 * place in every row, so a scan that branches on them mispredicts several times a row; that cost
 * more than reading the characters (measured on Node 20: the same scan on rows of the same lengths
 * without such characters ran a third faster). Here every character is one table load (its lowered
 * byte and its class), one transition of a small automaton (its next state and whether the byte is
 * kept) and one store; only the loop itself branches.
 *
 * The automaton accepts what the string fast path (normalizeEmailCompact) does: ASCII blanks around
 * the value, a local part of plain characters, dots and '+' that starts with a plain character, one
 * '@', and a domain of at least two non-empty labels (plain characters and '+'). For the google
 * profile, which removes every whitespace, blanks anywhere are skipped instead of ending the value.
 * Whatever it does not accept returns -1: the caller then takes the reference path, which decides
 * reasons.
 * Its states also remember whether the local part had a '.' or a '+', so only such addresses are
 * checked for the gmail rule afterwards.
 */
import type { Profile } from '../model.ts';

/**
 * Characters no address holds unquoted (RFC 5322 specials other than '@' and '.'), refused as
 * forbidden-character by the reference path; shared with the string fast path.
 */
export const FORBIDDEN_CHARACTERS = ',;<>"()[]\\:';

// Character classes, in the high byte of UNIT (the low byte is the character lowered).
const PLAIN = 0;
const DOT = 1;
const PLUS = 2;
const AT = 3;
const BLANK = 4;
const OTHER = 5;

/** For every UTF-16 code unit: its class << 8 | the byte it becomes (plain characters lowercased). */
const UNIT = new Uint16Array(0x10000).fill(OTHER << 8);
for (let c = 0x21; c <= 0x7e; c++) UNIT[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
for (const c of FORBIDDEN_CHARACTERS) UNIT[c.charCodeAt(0)] = OTHER << 8;
UNIT[0x2e] = (DOT << 8) | 0x2e;
UNIT[0x2b] = (PLUS << 8) | 0x2b;
UNIT[0x40] = (AT << 8) | 0x40;
for (const c of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]) UNIT[c] = (BLANK << 8) | c;

// States: where the scan is. Each is a multiple of 8 so that state | class indexes the tables.
const START = 0; // blanks before the value
const LOCAL = 1; // in the local part (it started with a plain character)
const AFTER_AT = 2; // right after the '@'
const FIRST_LABEL = 3; // in the domain's first label
const AFTER_DOT = 4; // right after a dot of the domain
const LABEL = 5; // in a later label: a complete address
const TRAILING = 6; // blanks after a complete address
const REFUSED = 7; // not for this path

/** The same states plus 8 once the local part has had a '.' or a '+' (the gmail rule has work). */
const MARKED = 8;
/** The google profile's states are these plus 16 (it skips blanks anywhere). */
const GOOGLE = 16;
/** Next state (times 8) and whether the character's byte is kept, for state * 8 + class. */
const NEXT = new Uint8Array(32 * 8);
const KEEP = new Uint8Array(32 * 8);
/** Per state: 0 not accepted, 1 a complete address, 2 one whose local part has a '.' or '+'. */
const VERDICT = new Uint8Array(32);

function on(from: number, classes: readonly number[], to: number, keep: boolean): void {
  for (const c of classes) {
    NEXT[(from << 3) | c] = to << 3;
    KEEP[(from << 3) | c] = keep ? 1 : 0;
  }
}
const LABEL_CHARS = [PLAIN, PLUS];
/** The eight slots of a state: the six classes and two that never occur. */
const EVERY_CLASS = [0, 1, 2, 3, 4, 5, 6, 7];
for (const family of [0, GOOGLE]) {
  // Anything not listed below refuses the value (and REFUSED refuses everything after).
  for (let s = 0; s < 16; s++) on(family + s, EVERY_CLASS, family + REFUSED, false);
  on(family + START, [BLANK], family + START, false);
  on(family + START, [PLAIN], family + LOCAL, true);
  for (const m of [family, family + MARKED]) {
    on(m + LOCAL, [PLAIN], m + LOCAL, true);
    on(m + LOCAL, [DOT, PLUS], family + MARKED + LOCAL, true);
    on(m + LOCAL, [AT], m + AFTER_AT, true);
    on(m + AFTER_AT, LABEL_CHARS, m + FIRST_LABEL, true);
    on(m + FIRST_LABEL, LABEL_CHARS, m + FIRST_LABEL, true);
    on(m + FIRST_LABEL, [DOT], m + AFTER_DOT, true);
    on(m + AFTER_DOT, LABEL_CHARS, m + LABEL, true);
    on(m + LABEL, LABEL_CHARS, m + LABEL, true);
    on(m + LABEL, [DOT], m + AFTER_DOT, true);
    if (family === GOOGLE) {
      // google: whitespace is removed wherever it is, so a blank changes nothing.
      for (const s of [LOCAL, AFTER_AT, FIRST_LABEL, AFTER_DOT, LABEL]) on(m + s, [BLANK], m + s, false);
      VERDICT[m + LABEL] = m === family ? 1 : 2;
    } else {
      // basic and uid2: blanks only after a complete address (inside one, the reference path refuses).
      on(m + LABEL, [BLANK], m + TRAILING, false);
      on(m + TRAILING, [BLANK], m + TRAILING, false);
      VERDICT[m + LABEL] = m === family ? 1 : 2;
      VERDICT[m + TRAILING] = m === family ? 1 : 2;
    }
  }
}
const START_BASIC = START << 3;
const START_GOOGLE = (GOOGLE + START) << 3;

/** '@gmail.com' and '@googlemail.com' as bytes, for the mailbox rule. */
const AT_GMAIL = Uint8Array.from('@gmail.com', (c) => c.charCodeAt(0));
const AT_GOOGLEMAIL = Uint8Array.from('@googlemail.com', (c) => c.charCodeAt(0));

/** Whether out[0, end) ends with `tail` after at least one byte (the tails start with '@'). */
function endsWith(out: Uint8Array, end: number, tail: Uint8Array): boolean {
  const from = end - tail.length;
  if (from < 1) return false;
  for (let k = 0; k < tail.length; k++) if (out[from + k] !== tail[k]) return false;
  return true;
}

/**
 * Normalizes a plain ASCII email into `out` from index 0 and returns the byte count; -1 when the value
 * is not one the automaton accepts (or is longer than `out`), and the reference path must decide it.
 * Hashers hash these bytes directly: no lowercased string, no trimmed slice, no UTF-8 encoding per
 * row. A property test holds it equal to the reference.
 */
export function normalizeEmailInto(raw: string, profile: Profile, out: Uint8Array): number {
  const n = raw.length;
  if (n > out.length) return -1;
  let state = profile === 'google' ? START_GOOGLE : START_BASIC;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const unit = UNIT[raw.charCodeAt(i)] as number;
    const k = state | (unit >> 8);
    state = NEXT[k] as number;
    out[o] = unit; // the low byte; kept only if the cursor moves past it
    o += KEEP[k] as number;
  }
  const verdict = VERDICT[state >> 3] as number;
  if (verdict === 0) return -1;
  // basic keeps dots and tags: its result never depends on whether there were any (no branch on it).
  if (profile === 'basic' || verdict === 1) return o;
  // gmail.com (uid2, google) and googlemail.com (google): the local part loses its dots and +tag.
  // There is exactly one '@', so a matching tail is the whole domain.
  let at: number;
  if (endsWith(out, o, AT_GMAIL)) at = o - AT_GMAIL.length;
  else if (profile === 'google' && endsWith(out, o, AT_GOOGLEMAIL)) at = o - AT_GOOGLEMAIL.length;
  else return o;
  // The first character is plain, so the mailbox keeps at least one.
  let w = 0;
  for (let r = 0; r < at; r++) {
    const b = out[r] as number;
    if (b === 0x2b) break;
    if (b !== 0x2e) out[w++] = b;
  }
  // '@' and the domain move down (a few bytes: a loop beats a native copyWithin call here).
  for (let r = at; r < o; r++) out[w++] = out[r] as number;
  return w;
}
