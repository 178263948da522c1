/**
 * How the CLI fails: one line on stderr that says what went wrong and what to do, and a nonzero
 * exit status; never a stack trace (ONBOARD_DEBUG=1 adds one, for bug reports).
 */
import { isDomainError } from '../shared/domain/errors.ts';
import { ApiError } from './api-client.ts';

/** A mistake of the user's (a file, a flag value) with the line that explains it. */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** Exit statuses: 1 for a failure, 2 for a command line that cannot be run as typed. */
export const EXIT = { failure: 1, usage: 2 } as const;

const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
};

interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
}

function isSystemError(error: unknown): error is SystemError {
  return error instanceof Error && typeof (error as SystemError).code === 'string' && 'syscall' in error;
}

/** A file system error in words ("no such file or folder"), or its code when there are none. */
export function systemErrorWords(error: unknown): string | undefined {
  return isSystemError(error) ? (SYSTEM_ERRORS[error.code] ?? error.code) : undefined;
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();
const sentence = (text: string) => text.replace(/[.:\s]+$/, '');

/** The one line (without the `onboard: ` prefix) that describes a failure. */
export function describeFailure(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    return oneLine(
      fields ? `${error.code}: ${sentence(error.detail)}: ${fields}` : `${error.code}: ${error.detail}`,
    );
  }
  if (isDomainError(error)) return oneLine(`${error.code}: ${error.detail}`);
  if (error instanceof UserError) return oneLine(error.message);
  if (isSystemError(error)) {
    const words = systemErrorWords(error);
    const what = error.path ? ` ${error.path}` : '';
    const verb = /^(open|read|stat|scandir|access)/.test(error.syscall ?? '') ? 'read' : 'write';
    return oneLine(`cannot ${verb}${what}: ${words}.`);
  }
  const name = error instanceof Error ? error.name : 'error';
  const message = error instanceof Error ? error.message : String(error);
  return oneLine(`unexpected ${name}: ${message} (ONBOARD_DEBUG=1 shows where)`);
}

/** Writes the failure's line to stderr (and its stack with ONBOARD_DEBUG=1). */
export function reportFailure(error: unknown, stderr: NodeJS.WritableStream = process.stderr): void {
  stderr.write(`onboard: ${describeFailure(error)}\n`);
  if (process.env.ONBOARD_DEBUG && error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
}
