/**
 * A small client of the /v1 API for the CLI: bearer auth, JSON, RFC 9457 problems turned into
 * errors that keep their code, detail and field-level details, and presigned uploads and downloads.
 * Failures a user can fix (no API there, a refused token) say what to do.
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  type CallArgs,
  type OperationId,
  type OperationInput,
  type ResponseOf,
  requestOperation,
} from './typed-client.ts';

/** What the CLI says when the API refuses the token it sent (HTTP 401). */
export const TOKEN_REFUSED = 'the token expired or was refused, run `onboard login`';

/** A bearer token, or where to get a fresh one before each request (a signed-in session). */
export type TokenSource = string | (() => Promise<string>);

/** One field-level problem of a request (`errors` of an RFC 9457 problem). */
export interface FieldProblem {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors: readonly FieldProblem[] = [],
  ) {
    super(`${code}: ${detail}`);
    this.name = 'ApiError';
  }
}

/** Why a connection failed, in words, from the error undici wraps in "fetch failed". */
function connectionFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timed out';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    default:
      return cause?.code ?? (cause as Error | undefined)?.message ?? 'no answer';
  }
}

function fieldProblems(value: unknown): FieldProblem[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((e): e is { path: unknown; message: unknown } => typeof e === 'object' && e !== null)
    .map((e) => ({ path: String(e.path ?? ''), message: String(e.message ?? '') }));
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: TokenSource | undefined,
  ) {}

  /** Calls one operation by its operationId, typed from the route table (see typed-client.ts). */
  call<Id extends OperationId>(operationId: Id, ...input: CallArgs<Id>): Promise<ResponseOf<Id>> {
    // The server validated its answer against the same schema: its type is the schema's output.
    return requestOperation(this, operationId, (input as unknown[])[0] as OperationInput) as Promise<
      ResponseOf<Id>
    >;
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const token = typeof this.token === 'function' ? await this.token() : this.token;
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          accept: 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new ApiError(
        0,
        'unreachable',
        `The API at ${this.baseUrl} is not reachable (${connectionFailure(error)}). Start the embedded stack with \`npm start\`, or check --api-url and ONBOARD_API_URL.`,
      );
    }
    const text = await response.text();
    let data: Record<string, unknown> = {};
    try {
      if (text) data = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new ApiError(
        response.status,
        'not-the-api',
        `${this.baseUrl} answered HTTP ${response.status} with something other than JSON: is it the API's address?`,
      );
    }
    if (response.status === 401) {
      throw new ApiError(
        401,
        'unauthorized',
        token
          ? `The API at ${this.baseUrl} refused the token: ${TOKEN_REFUSED} (or pass a current one with --token or ONBOARD_TOKEN; \`npm start\` prints the embedded stack's dev tokens).`
          : `The API at ${this.baseUrl} needs a token: run \`onboard login\`, or pass one with --token or ONBOARD_TOKEN.`,
      );
    }
    if (!response.ok) {
      throw new ApiError(
        response.status,
        String(data.code ?? 'error'),
        String(data.detail ?? data.message ?? `HTTP ${response.status} ${response.statusText}`),
        fieldProblems(data.errors),
      );
    }
    return data as T;
  }

  get<T>(path: string) {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown) {
    return this.request<T>('POST', path, body);
  }
}

export interface UploadTicket {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
}

/** PUTs a file (streamed, with its length: S3 needs it) or a string to a presigned URL. */
export async function uploadTo(
  ticket: UploadTicket,
  source: { file: string } | { text: string },
): Promise<void> {
  let body: BodyInit;
  let length: number;
  if ('file' in source) {
    // Opened first: a missing or unreadable file is a rejection here, not an 'error' event later.
    const handle = await open(source.file);
    length = (await handle.stat()).size;
    body = Readable.toWeb(handle.createReadStream()) as unknown as BodyInit;
  } else {
    const bytes = Buffer.from(source.text, 'utf8');
    length = bytes.length;
    body = bytes;
  }
  const response = await storage(ticket.url, {
    method: 'PUT',
    headers: { ...ticket.headers, 'content-length': String(length) },
    body,
    duplex: 'half',
  } as RequestInit);
  if (!response.ok) {
    throw new ApiError(response.status, 'upload-failed', `The upload was refused (HTTP ${response.status}).`);
  }
}

export async function downloadFrom(url: string): Promise<string> {
  const response = await storage(url);
  if (!response.ok)
    throw new ApiError(response.status, 'download-failed', `The download failed (HTTP ${response.status}).`);
  return response.text();
}

/** A request to a presigned storage URL, its connection failures in words. */
async function storage(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new ApiError(
      0,
      'storage-unreachable',
      `The file storage at ${new URL(url).origin} is not reachable (${connectionFailure(error)}).`,
    );
  }
}
