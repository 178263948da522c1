/**
 * The console's client of /v1: bearer token, JSON, RFC 9457 problems turned into errors with the
 * API's code and detail, and presigned uploads with progress (XMLHttpRequest: fetch has no upload
 * progress).
 */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'ApiProblem';
  }
}

export interface UploadTicket {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
}

export class ConsoleApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch {
      throw new ApiProblem(
        0,
        'unreachable',
        'The service cannot be reached. Check your connection and try again.',
      );
    }
    const text = await response.text();
    let data: Record<string, unknown> = {};
    try {
      data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      data = {};
    }
    if (!response.ok) {
      if (response.status === 401) this.onUnauthorized();
      throw new ApiProblem(
        response.status,
        String(data.code ?? (response.status === 401 ? 'unauthorized' : 'error')),
        String(
          data.detail ??
            (response.status === 401
              ? 'Your sign-in has expired: sign in again.'
              : `The service answered ${response.status}.`),
        ),
      );
    }
    return data as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
}

/**
 * PUTs a blob to a presigned URL, reporting the fraction sent. The bytes are read first: a request
 * body of bytes (unlike a Blob handle) is visible in the browser's own network log, so what left the
 * page can be audited there (the browser tests do).
 */
export async function uploadBlob(
  ticket: UploadTicket,
  blob: Blob,
  onProgress: (fraction: number) => void,
): Promise<void> {
  const bytes = await blob.arrayBuffer();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', ticket.url);
    for (const [name, value] of Object.entries(ticket.headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / Math.max(1, e.total));
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else
        reject(
          new ApiProblem(
            xhr.status,
            'upload-failed',
            `The upload was refused (HTTP ${xhr.status}). Try again.`,
          ),
        );
    };
    xhr.onerror = () =>
      reject(new ApiProblem(0, 'upload-failed', 'The upload failed: the storage service cannot be reached.'));
    xhr.send(bytes);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `done`, backing off from 150 ms to 1 s. */
export async function poll<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  onTick: (v: T) => void,
): Promise<T> {
  for (let delay = 150; ; delay = Math.min(delay * 1.5, 1_000)) {
    const value = await read();
    onTick(value);
    if (done(value)) return value;
    await sleep(delay);
  }
}
