/**
 * The web console on the embedded stack's HTTP server: the page at `/` and `/console/`, its assets
 * under `/console/`, and `/console/config.json` telling the page to use this origin's `/v1` and to
 * sign in with dev tokens. Headers as CloudFront serves them in AWS (a strict CSP whose
 * connect-src adds only the local S3 endpoint the presigned uploads go to).
 */
import { CONSOLE_PAGE, type ConsoleAssets } from '../console/build.ts';

export interface StaticResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

export type StaticFiles = (method: string, path: string) => StaticResponse | undefined;

export function consoleSecurityHeaders(connectOrigins: readonly string[]): Record<string, string> {
  return {
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      `connect-src 'self' ${connectOrigins.join(' ')}`.trim(),
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  };
}

export function consoleFiles(assets: ConsoleAssets, s3Endpoint: string): StaticFiles {
  const headers = consoleSecurityHeaders([new URL(s3Endpoint).origin]);
  const config = JSON.stringify({ apiUrl: '', auth: { kind: 'dev' } });
  return (method, path) => {
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    if (path === '/console/config.json')
      return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body: config };
    const asset = assets.get(path === '' || path === '/' || path === '/console' ? CONSOLE_PAGE : path);
    if (!asset) return undefined;
    return { status: 200, headers: { ...headers, 'content-type': asset.contentType }, body: asset.body };
  };
}
