/**
 * A small client of the /v1 API for the CLI: bearer auth, JSON, RFC 9457 problems turned into
 * errors that print their code and detail, and presigned uploads and downloads.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
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

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'ApiError';
  }
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

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
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
        `Cannot reach ${this.baseUrl} (${(error as Error).message}). Is \`npm start\` running?`,
      );
    }
    const text = await response.text();
    const data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (response.status === 401 && token) throw new ApiError(401, 'unauthorized', TOKEN_REFUSED);
    if (!response.ok) {
      throw new ApiError(
        response.status,
        String(data.code ?? (response.status === 401 ? 'unauthorized' : 'error')),
        String(data.detail ?? data.message ?? response.statusText),
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
    length = (await stat(source.file)).size;
    body = Readable.toWeb(createReadStream(source.file)) as unknown as BodyInit;
  } else {
    const bytes = Buffer.from(source.text, 'utf8');
    length = bytes.length;
    body = bytes;
  }
  const response = await fetch(ticket.url, {
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
  const response = await fetch(url);
  if (!response.ok)
    throw new ApiError(response.status, 'download-failed', `The download failed (HTTP ${response.status}).`);
  return response.text();
}
