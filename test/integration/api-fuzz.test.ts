/**
 * Schema-driven fuzzing of the HTTP API on the embedded stack (schemathesis-style, with fast-check):
 * requests built from the OpenAPI document the API serves (its paths, parameters and request body
 * schemas), with valid and invalid bodies, ids, queries, cursors, percent-encodings, content types,
 * methods and tokens. Every answer must be below 500, and either a 2xx whose body matches the
 * route's documented response schema or a problem+json document with a code from the closed list.
 *
 * Bounded: a fixed number of cases (FUZZ_RUNS) with a fixed seed unless FUZZ_SEED is set, so a
 * failure replays; FUZZ_RUNS=5000 FUZZ_SEED=$RANDOM explores further by hand.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMatch } from '../../cli/flows.ts';
import { PROBLEM_CODES } from '../../shared/api/problem.ts';
import { ROUTES } from '../../shared/api/routes.ts';
import { ProblemSchema } from '../../shared/api/schemas.ts';
import { hostileString, invalidValue, type JsonSchema, validValue } from '../support/schema-arbitraries.ts';
import {
  exactCountScenario,
  http,
  type RawResponse,
  seedPartner,
  startTestStack,
  type TestStack,
} from './helpers.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);

const PARTNER = 'fz-partner';
const ADV = 'fz-adv';

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: JsonSchema;
}

interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body?: JsonSchema;
}

interface FuzzRequest {
  method: string;
  path: string;
  token: string | undefined;
  rawBody?: string;
  contentType?: string;
  label: string;
}

let t: TestStack;
let operations: Operation[];
/** Ids of real records, so valid requests reach real resources and their 2xx bodies get checked. */
const realIds: string[] = [];
const tokens: Record<string, string | undefined> = {};

const scenario = exactCountScenario({
  base: 0,
  listSize: 150,
  segments: [
    { segmentId: 'fz-a', listMatches: 70, others: 30 },
    { segmentId: 'fz-b', listMatches: 60, others: 30 },
  ],
});

beforeAll(async () => {
  t = await startTestStack({ MIN_LIST_SIZE: '100', UNSAFE_NOISE_OFF_FOR_TESTS: 'true', SHARD_COUNT: '2' });
  tokens.advertiser = t.token(ADV, 'advertiser');
  tokens.partner = t.token(PARTNER, 'partner');
  tokens.admin = t.token('fz-operator', 'admin');
  tokens.none = undefined;
  tokens.garbage = 'not-a-token';
  const report = await seedPartner(t.client(PARTNER, 'partner'), PARTNER, scenario.segments);
  expect(report.status).toBe('SUCCEEDED');
  const outcome = await runMatch(t.client(ADV, 'advertiser'), {
    partnerId: PARTNER,
    list: { text: scenario.listText },
    quiet: true,
  });
  expect(outcome.match.status).toBe('SUCCEEDED');
  realIds.push(PARTNER, ADV, report.audienceId, outcome.match.matchId, outcome.match.listId);

  const doc = await http(t, 'GET', '/v1/openapi.json');
  expect(doc.status).toBe(200);
  operations = [];
  for (const [path, byMethod] of Object.entries(doc.json.paths as Record<string, Record<string, unknown>>)) {
    for (const [method, op] of Object.entries(byMethod)) {
      const o = op as {
        parameters?: Parameter[];
        requestBody?: { content: { 'application/json': { schema: JsonSchema } } };
      };
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: o.parameters ?? [],
        ...(o.requestBody ? { body: o.requestBody.content['application/json'].schema } : {}),
      });
    }
  }
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

const safeEncode = (v: unknown) => {
  try {
    return encodeURIComponent(typeof v === 'string' ? v : JSON.stringify(v));
  } catch {
    return 'lone-surrogate';
  }
};

/** A path or query value: valid for its schema, next to it, a real id, or hostile (already raw). */
function valueFor(p: Parameter): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: validValue(p.schema).map(safeEncode) },
    { weight: 2, arbitrary: invalidValue(p.schema).map(safeEncode) },
    { weight: p.in === 'path' ? 3 : 1, arbitrary: fc.constantFrom(...realIds) },
    { weight: 2, arbitrary: hostileString() },
  );
}

function bodyFor(op: Operation): fc.Arbitrary<{ rawBody?: string; contentType?: string; label: string }> {
  const json = (label: string) => (v: unknown) => ({
    rawBody: JSON.stringify(v),
    contentType: 'application/json',
    label,
  });
  const options: fc.Arbitrary<{ rawBody?: string; contentType?: string; label: string }>[] = [
    fc.constant({ label: 'no body' }),
    fc
      .string({ maxLength: 30 })
      .map((s) => ({ rawBody: s, contentType: 'application/json', label: 'text as json' })),
    fc
      .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16')
      .map((contentType) => ({ rawBody: '{}', contentType, label: `content type ${contentType}` })),
  ];
  if (op.body) {
    options.push(
      validValue(op.body).map(json('valid body')),
      validValue(op.body).map(json('valid body')),
      invalidValue(op.body).map(json('invalid body')),
    );
  } else {
    options.push(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 2 }).map(json('stray body')),
    );
  }
  return fc.oneof(...options);
}

function requestFor(op: Operation): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const query = fc.tuple(
    ...queryParams.map((p) =>
      fc.option(
        valueFor(p).map((v) => `${p.name}=${v}`),
        { nil: undefined },
      ),
    ),
    fc.option(
      fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), hostileString()).map(([k, v]) => `${k}=${v}`),
      { nil: undefined, freq: 4 },
    ),
  );
  return fc
    .record({
      params: fc.tuple(...pathParams.map(valueFor)),
      query,
      body: bodyFor(op),
      role: fc.constantFrom('advertiser', 'advertiser', 'partner', 'admin', 'none', 'garbage'),
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant(op.method) },
        { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') },
      ),
    })
    .map(({ params, query: parts, body, role, method }) => {
      let i = 0;
      const path = op.path.replace(/\{\w+\}/g, () => params[i++] ?? 'x');
      const qs = parts.filter((p): p is string => p !== undefined).join('&');
      return {
        method,
        path: qs ? `${path}?${qs}` : path,
        token: tokens[role],
        ...(method === 'GET' || method === 'DELETE' ? {} : body),
        label: `${role} ${method} ${op.method} ${op.path} (${body.label})`,
      };
    });
}

const routeOf = (method: string, rawPath: string) =>
  ROUTES.find(
    (r) =>
      r.method === method &&
      new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(rawPath.split('?')[0] as string),
  );

/** The answer's contract: no 5xx; a documented 2xx body, or a problem document from the closed list. */
function checkAnswer(req: FuzzRequest, res: RawResponse): void {
  const where = `${req.label}: ${req.method} ${req.path} -> ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status >= 400) {
    expect(res.contentType, where).toBe('application/problem+json');
    const problem = ProblemSchema.strict().safeParse(res.json);
    expect(problem.success, `${where}\n${problem.error?.message}`).toBe(true);
    expect(res.json.status, where).toBe(res.status);
    expect(PROBLEM_CODES, where).toContain(res.json.code);
    return;
  }
  expect(res.contentType, where).toBe('application/json');
  if (req.path.startsWith('/v1/openapi.json')) return;
  const route = routeOf(req.method, req.path);
  expect(route, where).toBeDefined();
  expect(res.status, where).toBe(route?.status);
  const parsed = route?.response.safeParse(res.json);
  expect(parsed?.success, `${where}\n${parsed?.error?.message}`).toBe(true);
}

describe('schema-driven fuzzing of the HTTP API', () => {
  it(`answers ${RUNS} generated requests with no 5xx and only documented bodies`, async () => {
    const statuses = new Map<number, number>();
    const request = fc.constantFrom(...operations).chain(requestFor);
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const res = await http(t, req.method, req.path, {
          ...(req.token ? { token: req.token } : {}),
          ...(req.rawBody !== undefined ? { rawBody: req.rawBody } : {}),
          ...(req.contentType ? { headers: { 'content-type': req.contentType } } : {}),
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        checkAnswer(req, res);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    await t.stack.idle();
    // The generator reaches both sides of the contract: successes and each kind of refusal.
    const seen = [...statuses.keys()];
    for (const status of [200, 400, 401, 403, 404])
      expect(seen, JSON.stringify([...statuses])).toContain(status);
    expect([...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(RUNS / 20);
  }, 120_000);

  it('covers every operation of the document', () => {
    expect(operations.map((o) => `${o.method} ${o.path}`).sort()).toEqual(
      [...ROUTES.map((r) => `${r.method} ${r.path}`), 'GET /v1/openapi.json'].sort(),
    );
  });
});
