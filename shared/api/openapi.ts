/** The OpenAPI 3.1 document, generated from the same zod schemas the API validates with. */
import { z } from 'zod';
import { API_ERROR_STATUS } from './problem.ts';
import { ROUTES, type Route } from './routes.ts';
import { ProblemSchema } from './schemas.ts';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

/** The operation serving this document (it is not in the route table: it describes the table). */
export const OPENAPI_OPERATION_ID = 'getOpenApi';

/** The license of the service (as in package.json), by its SPDX identifier. */
export const API_LICENSE = { name: 'Apache License 2.0', identifier: 'Apache-2.0' } as const;

const problemContent = {
  'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
};
const problem = (description: string) => ({ description, content: problemContent });

/**
 * The problem responses an operation documents: each status the HTTP layer itself may answer for
 * it (from its inputs and whether it needs a token), then any other client error and server error.
 * Each names the codes of the closed list (`Problem.code`) it carries.
 */
function problemResponses(route: Pick<Route, 'roles' | 'params' | 'query' | 'body'>) {
  const hasInput = Boolean(route.params || route.query || route.body);
  return {
    ...(hasInput
      ? {
          400: problem(
            'The path, query or body is outside its schema (`invalid-request`, with `errors` naming each field' +
              `${route.body ? '; `invalid-json`: the body is not JSON' : ''}), or a value the domain refuses (\`invalid-input\`, \`invalid-cursor\`, ...).`,
          ),
        }
      : {}),
    ...(route.roles
      ? {
          401: problem(
            'No bearer token, or one that expired or was refused (`unauthorized`): sign in again (`onboard login`). Behind API Gateway the body may be `{"message":"Unauthorized"}`: branch on the status.',
          ),
          403: problem(
            'The role of the token may not do this (`forbidden`), or the privacy budget is spent (`privacy-budget-exhausted`).',
          ),
        }
      : {}),
    ...(route.params
      ? { 404: problem("No such resource for this tenant (`not-found`; another tenant's resources too).") }
      : {}),
    ...(route.body
      ? {
          [API_ERROR_STATUS['body-too-large']]: problem('The body is too large (`body-too-large`).'),
          [API_ERROR_STATUS['unsupported-media-type']]: problem(
            'The body is not `application/json` (`unsupported-media-type`).',
          ),
        }
      : {}),
    '4XX': problem('Any other client error, as a problem with a stable `code` from the closed list.'),
    default: problem('A problem on our side (`internal`), with a stable code and nothing about its cause.'),
  };
}

export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {
    '/v1/openapi.json': {
      get: {
        operationId: OPENAPI_OPERATION_ID,
        summary: 'This document',
        security: [],
        responses: {
          200: { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: {} } } },
          ...problemResponses({}),
        },
      },
    },
  };
  for (const route of ROUTES) {
    const parameters: unknown[] = [];
    const pathSchemas = route.params
      ? ((jsonSchema(route.params, 'input') as { properties?: Record<string, unknown> }).properties ?? {})
      : {};
    for (const name of [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)) {
      parameters.push({ name, in: 'path', required: true, schema: pathSchemas[name] ?? { type: 'string' } });
    }
    if (route.query) {
      const q = jsonSchema(route.query, 'input') as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        parameters.push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema });
      }
    }
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.roles ? { security: [{ bearer: [] }], 'x-roles': route.roles } : { security: [] }),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [route.status]: {
          description: 'OK',
          content: { 'application/json': { schema: jsonSchema(route.response, 'output') } },
        },
        ...problemResponses(route),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Privacy-safe audience onboarding API',
      version: '1.0.0',
      description:
        'Aggregate-only audience matching. Every released count is at least k; see the privacy model in the README.',
      license: API_LICENSE,
    },
    servers: [
      { url: '/', description: 'The deployment that served this document (paths start with /v1)' },
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'A deployment in AWS: the `ApiUrl` output of the stateless stack',
        variables: {
          apiId: { default: 'example', description: 'The id of the HTTP API' },
          region: { default: 'us-east-1', description: 'The AWS region of the deployment' },
        },
      },
    ],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: jsonSchema(ProblemSchema, 'output') },
    },
    paths,
  };
}
