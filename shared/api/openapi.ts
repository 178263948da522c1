/** The OpenAPI 3.1 document, generated from the same zod schemas the API validates with. */
import { z } from 'zod';
import { ROUTES } from './routes.ts';
import { ProblemSchema } from './schemas.ts';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {
    '/v1/openapi.json': {
      get: {
        summary: 'This document',
        security: [],
        responses: { 200: { description: 'OpenAPI 3.1 document' } },
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
    const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = {
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
        default: { description: 'A problem (RFC 9457) with a stable code', content: problem },
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
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: jsonSchema(ProblemSchema, 'output') },
    },
    paths,
  };
}
