/**
 * The API document clients build on: Redocly's recommended rules find nothing in it (no error, no
 * warning), every operation has a stable, unique operationId from the route table and documents its
 * problem (4xx) responses, and the license is the package's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConfig, lintFromString, type NormalizedProblem } from '@redocly/openapi-core';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../cdk/handlers.ts';
import { buildOpenApi, OPENAPI_OPERATION_ID } from '../../shared/api/openapi.ts';
import { ROUTES } from '../../shared/api/routes.ts';

type Operation = {
  operationId?: string;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
};
type Doc = { info: { license?: { identifier?: string } }; paths: Record<string, Record<string, Operation>> };

const operations = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
  );

async function redoclyRecommended(doc: unknown): Promise<NormalizedProblem[]> {
  const config = await createConfig({ extends: ['recommended'] });
  return lintFromString({ source: JSON.stringify(doc), absoluteRef: '/v1/openapi.json', config });
}

const summary = (problems: NormalizedProblem[]) =>
  problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`);

describe('the OpenAPI document', () => {
  it("passes Redocly's recommended rules with no error and no warning", async () => {
    expect(summary(await redoclyRecommended(buildOpenApi()))).toEqual([]);
  });

  it('fails those rules when an operationId, a 4xx response or the license goes missing', async () => {
    const doc = buildOpenApi() as Doc;
    const health = doc.paths['/v1/health']?.get as Operation;
    delete health.operationId;
    for (const status of Object.keys(health.responses))
      if (status.startsWith('4')) delete health.responses[status];
    delete doc.info.license;
    const rules = (await redoclyRecommended(doc)).map((p) => p.ruleId).sort();
    expect(rules).toEqual(['info-license', 'operation-4xx-response', 'operation-operationId']);
  });

  it('gives every route a unique lowerCamelCase operationId, the one the document publishes', () => {
    const ids = ROUTES.map((r) => r.operationId);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(new Set([...ids, OPENAPI_OPERATION_ID]).size).toBe(ids.length + 1);
    const doc = buildOpenApi() as Doc;
    for (const route of ROUTES) {
      expect(doc.paths[route.path]?.[route.method.toLowerCase()]?.operationId).toBe(route.operationId);
    }
    expect(operations(doc).filter(({ op }) => !op.operationId)).toEqual([]);
  });

  it('documents a 4xx problem (application/problem+json, the Problem schema) on every operation', () => {
    for (const { key, op } of operations(buildOpenApi() as Doc)) {
      const clientErrors = Object.entries(op.responses).filter(([status]) => /^4(\d\d|XX)$/.test(status));
      expect(clientErrors.length, key).toBeGreaterThan(0);
      for (const [status, response] of clientErrors) {
        expect(response.content?.['application/problem+json']?.schema?.$ref, `${key} ${status}`).toBe(
          '#/components/schemas/Problem',
        );
      }
    }
  });

  it('documents 401 and 403 on every operation that needs a token, 404 on those with a path id', () => {
    const doc = buildOpenApi() as Doc;
    for (const route of ROUTES) {
      const statuses = Object.keys(doc.paths[route.path]?.[route.method.toLowerCase()]?.responses ?? {});
      if (route.roles) expect(statuses, route.operationId).toEqual(expect.arrayContaining(['401', '403']));
      if (route.params) expect(statuses, route.operationId).toContain('404');
      if (route.body)
        expect(statuses, route.operationId).toEqual(expect.arrayContaining(['400', '413', '415']));
    }
  });

  it('states the license of package.json', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { license: string };
    expect((buildOpenApi() as Doc).info.license?.identifier).toBe(pkg.license);
  });
});
