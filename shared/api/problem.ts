/**
 * RFC 9457 problem details with a stable `code` that clients branch on. Domain errors map to
 * problems here, once, for every route; anything unexpected becomes a 500 that says nothing
 * about its cause (the cause goes to the log, without personal data).
 */
import { DomainError } from '../domain/errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  instance?: string;
  errors?: { path: string; message: string }[];
}

/** An error raised by the HTTP layer itself (auth, routing, validation, state of a resource). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors?: { path: string; message: string }[],
  ) {
    super(`${code}: ${detail}`);
    this.name = 'ApiProblem';
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

export function problemOf(error: unknown, instance?: string): Problem {
  const make = (status: number, code: string, detail: string, errors?: Problem['errors']): Problem => ({
    type: `https://onboard.example/problems/${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    detail,
    ...(instance ? { instance } : {}),
    ...(errors ? { errors } : {}),
  });
  if (error instanceof ApiProblem) return make(error.status, error.code, error.detail, error.errors);
  if (error instanceof DomainError) return make(error.status, error.code, error.detail);
  return make(500, 'internal', 'Something went wrong on our side. The request id in the logs identifies it.');
}
