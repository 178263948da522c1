/**
 * API Gateway HTTP API (payload v2) to use cases: match the route, read the principal from the JWT
 * claims the authorizer verified, validate params, query and body with zod, call the use case, and
 * map every error to an RFC 9457 problem. The same function serves AWS and the embedded stack.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { z } from 'zod';
import type { DomainLogger } from '../domain/ports.ts';
import { type Principal, ROLES } from '../domain/principal.ts';
import type { UseCaseContext } from '../use-cases/context.ts';
import { buildOpenApi } from './openapi.ts';
import { ApiProblem, PROBLEM_CONTENT_TYPE, problemOf, UNAUTHORIZED_HEADERS } from './problem.ts';
import { ROUTES, type Route } from './routes.ts';

/** Claims set on Cognito users (custom attributes) and checked by the JWT authorizer. */
export const TENANT_CLAIM = 'custom:tenant_id';
export const ROLE_CLAIM = 'custom:role';
const MAX_BODY_BYTES = 64 * 1024;

const ClaimsSchema = z.object({
  [TENANT_CLAIM]: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/),
  [ROLE_CLAIM]: z.enum(ROLES as [string, ...string[]]),
});

type EventWithClaims = APIGatewayProxyEventV2 & {
  requestContext: { authorizer?: { jwt?: { claims?: Record<string, unknown> } } };
};

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

const compiled: CompiledRoute[] = ROUTES.map((route) => {
  const names: string[] = [];
  const source = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
});

function json(
  status: number,
  body: unknown,
  contentType = 'application/json',
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyResultV2 {
  return {
    statusCode: status,
    headers: {
      'content-type': contentType,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...extraHeaders,
    },
    body: JSON.stringify(body),
  };
}

function principalOf(event: EventWithClaims): Principal {
  const claims = event.requestContext.authorizer?.jwt?.claims;
  const parsed = ClaimsSchema.safeParse(claims ?? {});
  if (!parsed.success) {
    throw new ApiProblem('unauthorized', 'A valid bearer token with a tenant and a role is required.');
  }
  return { tenantId: parsed.data[TENANT_CLAIM], role: parsed.data[ROLE_CLAIM] as Principal['role'] };
}

function validate<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return value as T;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ApiProblem(
      'invalid-request',
      `The ${where} is not valid.`,
      parsed.error.issues.map((i) => ({ path: [where, ...i.path].join('.'), message: i.message })),
    );
  }
  return parsed.data;
}

function bodyOf(event: APIGatewayProxyEventV2): unknown {
  if (!event.body) return {};
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    throw new ApiProblem('body-too-large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`);
  }
  const type = event.headers?.['content-type'] ?? event.headers?.['Content-Type'] ?? 'application/json';
  if (!/^application\/(problem\+)?json\b/i.test(type)) {
    throw new ApiProblem('unsupported-media-type', 'Send the request body as application/json.');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiProblem('invalid-json', 'The request body is not valid JSON.');
  }
}

/**
 * Path parameters, percent-decoded. A malformed escape (`%`, `%ZZ`, a lone UTF-8 continuation byte)
 * is the client's mistake: 400 invalid-request naming the parameter, never a URIError (500).
 */
function decodeParams(names: readonly string[], match: RegExpExecArray): Record<string, string> {
  const params: Record<string, string> = {};
  const errors: { path: string; message: string }[] = [];
  for (const [i, name] of names.entries()) {
    const raw = match[i + 1] ?? '';
    try {
      params[name] = decodeURIComponent(raw);
    } catch {
      errors.push({ path: `path.${name}`, message: 'malformed percent-encoding' });
    }
  }
  if (errors.length > 0) throw new ApiProblem('invalid-request', 'The path is not valid.', errors);
  return params;
}

export function createApiHandler(context: () => UseCaseContext, logger: DomainLogger) {
  let openapi: unknown;
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> => {
    const started = Date.now();
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath.replace(/\/+$/, '') || '/';
    let status = 500;
    let code: string | undefined;
    try {
      if (method === 'GET' && path === '/v1/openapi.json') {
        openapi ??= buildOpenApi();
        status = 200;
        return json(200, openapi);
      }
      const candidates = compiled.filter((c) => c.pattern.test(path));
      const hit = candidates.find((c) => c.route.method === method);
      if (!hit) {
        if (candidates.length > 0)
          throw new ApiProblem('method-not-allowed', `${method} is not allowed on ${path}.`);
        throw new ApiProblem('not-found', 'No such resource.');
      }
      const { route } = hit;
      const principal = route.roles
        ? principalOf(event as EventWithClaims)
        : { tenantId: 'public', role: 'advertiser' as const };
      if (route.roles && !route.roles.includes(principal.role)) {
        throw new ApiProblem('forbidden', `This operation is for ${route.roles.join(' or ')} accounts.`);
      }
      const match = hit.pattern.exec(path) as RegExpExecArray;
      const rawParams = decodeParams(hit.names, match);
      const params = validate(route.params, rawParams, 'path') as Record<string, string>;
      const query = validate(route.query, event.queryStringParameters ?? {}, 'query') as Record<
        string,
        string
      >;
      const body = route.body ? validate(route.body, bodyOf(event), 'body') : undefined;
      const result = await route.handle(context(), { principal, params, query, body });
      status = route.status;
      return json(route.status, result);
    } catch (error) {
      const problem = problemOf(error, path);
      status = problem.status;
      code = problem.code;
      // The error's name only: messages of SDK errors can quote the values they choke on.
      if (status >= 500)
        logger.error('api: unexpected error', { error: error instanceof Error ? error.name : 'unknown' });
      return json(
        problem.status,
        problem,
        PROBLEM_CONTENT_TYPE,
        problem.status === 401 ? UNAUTHORIZED_HEADERS : {},
      );
    } finally {
      // Method, route shape, status and timing only: never bodies, query values or tokens.
      logger.info('api: request', {
        method,
        route: compiled.find((c) => c.pattern.test(path))?.route.path ?? 'unmatched',
        status,
        ...(code ? { code } : {}),
        ms: Date.now() - started,
        requestId: event.requestContext.requestId,
      });
    }
  };
}
