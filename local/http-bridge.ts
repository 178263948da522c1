/**
 * A local HTTP server that speaks to the API function the way API Gateway HTTP API does: it turns
 * each request into a payload v2 event, checks the bearer token as the JWT authorizer would (here
 * against dev tokens) and puts the claims where the authorizer puts them.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { ROLE_CLAIM, TENANT_CLAIM } from '../shared/api/http-handler.ts';
import { PROBLEM_CONTENT_TYPE, problemFor, UNAUTHORIZED_HEADERS } from '../shared/api/problem.ts';
import { ROUTES } from '../shared/api/routes.ts';
import type { StaticFiles } from './console-server.ts';
import type { DevTokens } from './dev-tokens.ts';

const MAX_REQUEST_BYTES = 1024 * 1024;

type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

/** Routes without roles are public, as they have no authorizer in the CDK app. */
const isPublic = (method: string, path: string) =>
  path === '/v1/openapi.json' ||
  ROUTES.some(
    (r) =>
      !r.roles && r.method === method && new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(path),
  );

class RequestTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw new RequestTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Whether any route has this path (API Gateway answers 404 for unknown routes before auth). */
const isKnownPath = (path: string) =>
  path === '/v1/openapi.json' ||
  ROUTES.some((r) => new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(path));

export async function startHttpBridge(
  handler: ApiHandler,
  tokens: DevTokens,
  port = 0,
  host = '127.0.0.1',
  /** Files served outside /v1 (the web console). */
  statics?: StaticFiles,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, headers: Record<string, string>, body: string) => {
      res.writeHead(status, headers);
      res.end(body);
    };
    try {
      const url = new URL(req.url ?? '/', `http://${host}`);
      const method = (req.method ?? 'GET').toUpperCase();
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string') headers[name.toLowerCase()] = value;
        else if (Array.isArray(value)) headers[name.toLowerCase()] = value.join(',');
      }
      let claims: Record<string, string> | undefined;
      const path = url.pathname.replace(/\/+$/, '');
      const file = path.startsWith('/v1') ? undefined : statics?.(method, path);
      if (file) {
        res.writeHead(file.status, file.headers);
        res.end(method === 'HEAD' ? undefined : file.body);
        return;
      }
      if (isKnownPath(path) && !isPublic(method, path)) {
        const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
        const found = bearer ? tokens.resolve(bearer) : undefined;
        if (!found) {
          // Where API Gateway's JWT authorizer answers before the function is ever invoked. In AWS
          // that answer is API Gateway's own `{"message":"Unauthorized"}` (an HTTP API cannot
          // reshape it); here it is the problem document the function itself answers with.
          const problem = problemFor(
            'unauthorized',
            'A valid bearer token with a tenant and a role is required.',
            { instance: path || '/' },
          );
          send(
            401,
            { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...UNAUTHORIZED_HEADERS },
            JSON.stringify(problem),
          );
          return;
        }
        claims = { [TENANT_CLAIM]: found.tenantId, [ROLE_CLAIM]: found.role, sub: found.token.slice(-8) };
      }
      const body = await readBody(req);
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = query[k] ? `${query[k]},${v}` : v;
      const now = new Date();
      const event = {
        version: '2.0',
        routeKey: '$default',
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        headers,
        ...(url.search ? { queryStringParameters: query } : {}),
        requestContext: {
          accountId: 'local',
          apiId: 'embedded',
          domainName: headers.host ?? host,
          domainPrefix: 'embedded',
          http: {
            method,
            path: url.pathname,
            protocol: `HTTP/${req.httpVersion}`,
            sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
            userAgent: headers['user-agent'] ?? '',
          },
          requestId: randomUUID(),
          routeKey: '$default',
          stage: '$default',
          time: now.toUTCString(),
          timeEpoch: now.getTime(),
          ...(claims ? { authorizer: { jwt: { claims, scopes: [] } } } : {}),
        },
        ...(body.length ? { body: body.toString('utf8') } : {}),
        isBase64Encoded: false,
      } as APIGatewayProxyEventV2;
      const result = (await handler(event)) as APIGatewayProxyStructuredResultV2;
      const outHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(result.headers ?? {})) outHeaders[k] = String(v);
      send(result.statusCode ?? 200, outHeaders, result.body ?? '');
    } catch (error) {
      if (error instanceof RequestTooLarge) {
        // As API Gateway does past its payload limit; the unread rest of the body dies with the socket.
        res.writeHead(413, { 'content-type': PROBLEM_CONTENT_TYPE, connection: 'close' });
        res.end(
          JSON.stringify(problemFor('body-too-large', `Requests are limited to ${MAX_REQUEST_BYTES} bytes.`)),
        );
        req.destroy();
        return;
      }
      send(
        500,
        { 'content-type': PROBLEM_CONTENT_TYPE },
        JSON.stringify(problemFor('internal', 'The local API bridge failed.')),
      );
    }
  });
  // Keep idle connections well past a client's own keep-alive (undici reuses a socket up to the
  // server's hint less a second): with Node's 5 s default, a loaded machine could hand a client a
  // socket the server was closing at that instant (ECONNRESET). API Gateway keeps them longer too.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
