/**
 * A pass-through HTTP proxy that counts the requests it forwards: put in front of the embedded
 * stack's s3rver and dynalite (through AWS_ENDPOINT_URL_S3 / _DYNAMODB), it sees every request of
 * the handlers and of the shard worker threads alike. Requests and bodies are forwarded untouched
 * (Host included, so presigned and SigV4 signatures still verify). Counts are by operation: the
 * DynamoDB X-Amz-Target (BatchGetItem, PutItem...) or the S3 method (GET, PUT, LIST...).
 */
import { createServer, request } from 'node:http';

export interface CountingProxy {
  url: string;
  /** Requests forwarded, by operation. */
  counts: Record<string, number>;
  /** Points the proxy at its target; requests that arrive before wait for it. */
  target(url: string): void;
  close(): Promise<void>;
}

export async function startCountingProxy(kind: 's3' | 'dynamodb'): Promise<CountingProxy> {
  const counts: Record<string, number> = {};
  let resolveTarget: (url: URL) => void = () => undefined;
  const target = new Promise<URL>((resolve) => {
    resolveTarget = resolve;
  });
  const operationOf = (method: string, path: string, amzTarget: string | undefined): string => {
    if (kind === 'dynamodb') return amzTarget?.split('.').pop() ?? method;
    const query = path.includes('?') ? path.slice(path.indexOf('?')) : '';
    const isBucketLevel = path.split('?')[0]?.split('/').filter(Boolean).length === 1;
    if (method === 'GET' && isBucketLevel) return 'LIST';
    if (query.includes('uploadId') || query.includes('uploads')) return `${method} multipart`;
    return method;
  };
  const server = createServer((req, res) => {
    const op = operationOf(
      req.method ?? 'GET',
      req.url ?? '/',
      req.headers['x-amz-target'] as string | undefined,
    );
    counts[op] = (counts[op] ?? 0) + 1;
    target.then((to) => {
      const upstream = request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('counting proxy: no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    counts,
    target: (url) => resolveTarget(new URL(url)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
