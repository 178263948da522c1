/**
 * RFC 9457 problem details with a stable `code` that clients branch on. This module is the one
 * place where codes map to problems: the domain's codes (shared/domain/errors.ts) and the HTTP
 * layer's own (below) form one closed list, PROBLEM_CODES, which the OpenAPI document publishes.
 * Anything unexpected becomes a 500 `internal` that says nothing about its cause (the cause goes to
 * the log, without personal data).
 */
import { DEFAULT_STATUS, DOMAIN_ERROR_CODES, DomainError, type DomainErrorCode } from '../domain/errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Codes the HTTP layer raises itself, each with its status. Extend the list, never rename an entry. */
export const API_ERROR_STATUS = {
  /** No bearer token, an unknown one, or claims without a tenant and a role. */
  unauthorized: 401,
  /** Path, query or body outside its schema, or a path with a malformed percent-encoding. */
  'invalid-request': 400,
  'invalid-json': 400,
  'body-too-large': 413,
  'unsupported-media-type': 415,
  'method-not-allowed': 405,
  /** Something went wrong on our side; never a client mistake. */
  internal: 500,
} as const satisfies Record<string, number>;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;
export type ProblemCode = DomainErrorCode | ApiErrorCode;

/** The closed list of every `code` a problem may carry. */
export const PROBLEM_CODES: readonly ProblemCode[] = [
  ...new Set<ProblemCode>([...DOMAIN_ERROR_CODES, ...(Object.keys(API_ERROR_STATUS) as ApiErrorCode[])]),
];

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail: string;
  instance?: string;
  errors?: { path: string; message: string }[];
}

/** An error raised by the HTTP layer itself (auth, routing, validation of the request). */
export class ApiProblem extends Error {
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode | Extract<DomainErrorCode, 'not-found' | 'forbidden'>,
    readonly detail: string,
    readonly errors?: { path: string; message: string }[],
  ) {
    super(`${code}: ${detail}`);
    this.name = 'ApiProblem';
    this.status = code === 'not-found' ? 404 : code === 'forbidden' ? 403 : API_ERROR_STATUS[code];
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** A problem document for a code, with the status the code maps to unless one is given. */
export function problemFor(
  code: ProblemCode,
  detail: string,
  options: { status?: number; instance?: string; errors?: Problem['errors'] } = {},
): Problem {
  const status =
    options.status ??
    (code in API_ERROR_STATUS
      ? API_ERROR_STATUS[code as ApiErrorCode]
      : DEFAULT_STATUS[code as DomainErrorCode]);
  return {
    type: `https://onboard.example/problems/${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    detail,
    ...(options.instance ? { instance: options.instance } : {}),
    ...(options.errors ? { errors: options.errors } : {}),
  };
}

export function problemOf(error: unknown, instance?: string): Problem {
  if (error instanceof ApiProblem) {
    return problemFor(error.code, error.detail, { status: error.status, instance, errors: error.errors });
  }
  if (error instanceof DomainError)
    return problemFor(error.code, error.detail, { status: error.status, instance });
  return problemFor(
    'internal',
    'Something went wrong on our side. The request id in the logs identifies it.',
    {
      instance,
    },
  );
}

/** Headers of a 401: the challenge, as API Gateway's JWT authorizer sends it. */
export const UNAUTHORIZED_HEADERS = { 'www-authenticate': 'Bearer' } as const;
