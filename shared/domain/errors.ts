/**
 * Typed domain errors. A `DomainError` carries a stable kebab-case `code` (part of the API
 * contract: clients branch on it), an HTTP status hint for the error mapper, and a `detail` that is
 * safe to show and to log: it never contains an identifier, a hash or any other personal data.
 */

/** Every code the domain core raises. Extend the list, never rename an entry. */
export const DOMAIN_ERROR_CODES = [
  'invalid-input',
  'invalid-digest',
  'invalid-shard-count',
  'invalid-privacy-settings',
  'list-too-small',
  'min-segment-size-below-floor',
  'min-segment-size-above-max',
  'invalid-min-segment-size',
  'invalid-epsilon',
  'privacy-budget-exhausted',
  'privacy-budget-unknown',
  'partner-not-found',
  'not-found',
  'forbidden',
  'conflict',
  'list-not-ready',
  'list-failed',
  'profile-mismatch',
  'match-not-finished',
  'match-failed',
  'invalid-cursor',
  'list-expired',
  'too-many-running-matches',
  'interrupted',
  'no-common-identifier-kind',
  'ingest-rejected',
] as const;

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

/** The status each code maps to unless the thrower says otherwise. */
export const DEFAULT_STATUS: Readonly<Record<DomainErrorCode, number>> = {
  'invalid-input': 400,
  'invalid-digest': 400,
  'invalid-shard-count': 400,
  'invalid-privacy-settings': 500,
  'list-too-small': 422,
  'min-segment-size-below-floor': 422,
  'min-segment-size-above-max': 422,
  'invalid-min-segment-size': 400,
  'invalid-epsilon': 400,
  'privacy-budget-exhausted': 403,
  // A caller forgot to read the ledger: a bug on our side, never a silent refill.
  'privacy-budget-unknown': 500,
  'partner-not-found': 404,
  'not-found': 404,
  forbidden: 403,
  conflict: 409,
  'list-not-ready': 409,
  'list-failed': 409,
  'profile-mismatch': 422,
  'match-not-finished': 409,
  'match-failed': 500,
  // A page cursor the server did not issue (or for another listing).
  'invalid-cursor': 400,
  // The list's upload passed its lifecycle expiry: upload it again.
  'list-expired': 410,
  // The tenant already runs the most matches a deployment allows at once.
  'too-many-running-matches': 429,
  // A job whose worker died (a crash, a timeout, a lost event) and that could not be resumed: the
  // stable code of every job recovery ends (shared/use-cases/recover-jobs.ts).
  interrupted: 500,
  // The list holds no identifier kind the partner has: it could match nobody, so nothing runs.
  'no-common-identifier-kind': 422,
  // A members file that accepts nothing, or rejects more rows than its upload allows: nothing changed.
  'ingest-rejected': 422,
};

export class DomainError extends Error {
  override readonly name: string = 'DomainError';
  readonly code: DomainErrorCode;
  /** HTTP-ish status hint for the error mapper (RFC 9457 problem `status`). */
  readonly status: number;
  /** Safe, human-readable explanation; never personal data. */
  readonly detail: string;

  constructor(code: DomainErrorCode, detail: string, status: number = DEFAULT_STATUS[code]) {
    super(`${code}: ${detail}`);
    this.code = code;
    this.detail = detail;
    this.status = status;
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
