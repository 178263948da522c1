/**
 * No silent guesses about what a column holds: a column read as emails whose first values all look
 * like phone numbers (or the reverse) is refused with a hint, instead of hashing every row into
 * an invalid one (or worse, a valid hash that matches nothing and still spends budget).
 */
import type { IdentifierKind } from '../model.ts';

/** Values looked at: the first ones that are not empty. */
const SAMPLE = 50;
/** The fewest values a verdict needs. */
const MIN_VERDICT = 5;

const PHONE_LIKE = /^\+?[\d\s().\-/]{7,20}$/;

export function looksLikePhone(value: string): boolean {
  const v = value.trim();
  if (!PHONE_LIKE.test(v)) return false;
  const digits = v.replace(/\D/g, '').length;
  return digits >= 7 && digits <= 15;
}

export function looksLikeEmail(value: string): boolean {
  const v = value.trim();
  const at = v.indexOf('@');
  return at > 0 && v.indexOf('.', at) > at;
}

/** Observes a column's values; returns a hint (never a value) once they are plainly another kind. */
export type KindGuard = (value: string) => string | undefined;

export function createKindGuard(kind: IdentifierKind, column: string | null): KindGuard {
  let seen = 0;
  let other = 0;
  let decided = false;
  const name = column === null ? 'the list' : `column "${column}"`;
  const otherKind: IdentifierKind = kind === 'email' ? 'phone' : 'email';
  const isOther = kind === 'email' ? looksLikePhone : looksLikeEmail;
  return (value) => {
    if (decided || value.trim() === '') return undefined;
    seen++;
    if (isOther(value)) other++;
    if (seen >= MIN_VERDICT && other === seen) {
      decided = true;
      return `${name} holds ${otherKind === 'phone' ? 'phone numbers' : 'email addresses'}, not ${kind === 'email' ? 'email addresses' : 'phone numbers'}: hash it with --kind ${otherKind}`;
    }
    if (other < seen || seen >= SAMPLE) decided = true;
    return undefined;
  };
}
