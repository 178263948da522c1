/**
 * One typed client of the /v1 API, derived from the route table the OpenAPI document is built from:
 * `client.call('getMatch', { params: { id } })` finds the operation's method and path by its
 * `operationId`, and its input and response types are the zod schemas' (the request schemas'
 * input, the response schema's output). No response shape is declared again by hand.
 */
import type { z } from 'zod';
import { type OperationId, ROUTE_TABLE, type Route } from '../shared/api/routes.ts';
import type { ApiClient } from './api-client.ts';

export type { OperationId };

type Operation<Id extends OperationId> = Extract<(typeof ROUTE_TABLE)[number], { operationId: Id }>;

/** What the operation answers, as the API's response schema says. */
export type ResponseOf<Id extends OperationId> = z.output<Operation<Id>['response']>;

type Part<Op, Key extends 'params' | 'query' | 'body'> = Op extends { [K in Key]: infer S extends z.ZodType }
  ? Key extends 'query'
    ? { query?: z.input<S> }
    : { [K in Key]: z.input<S> }
  : { [K in Key]?: never };

/** What the operation takes: path parameters and a body where it has them, a query where it reads one. */
export type InputOf<Id extends OperationId> = Part<Operation<Id>, 'params'> &
  Part<Operation<Id>, 'query'> &
  Part<Operation<Id>, 'body'>;

/** The input is optional where every part of it is. */
export type CallArgs<Id extends OperationId> = object extends InputOf<Id> ? [InputOf<Id>?] : [InputOf<Id>];

const BY_ID: ReadonlyMap<string, Route> = new Map(ROUTE_TABLE.map((r) => [r.operationId, r]));

/** The path of an operation with its parameters filled in and its query appended. */
export function operationPath(
  route: Pick<Route, 'path' | 'operationId'>,
  input: { params?: Record<string, unknown>; query?: Record<string, unknown> } = {},
): string {
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = input.params?.[name];
    if (value === undefined)
      throw new TypeError(`${route.operationId}: the path parameter ${name} is missing`);
    return encodeURIComponent(String(value));
  });
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(input.query ?? {}))
    if (value !== undefined) query.set(name, String(value));
  const search = query.toString();
  return search ? `${path}?${search}` : path;
}

/** The untyped parts of a call, as `ApiClient.call` passes them on. */
export interface OperationInput {
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
}

/** Calls one operation of the API by its operationId (`ApiClient.call` gives it its types). */
export function requestOperation(client: ApiClient, operationId: string, input: OperationInput = {}) {
  const route = BY_ID.get(operationId);
  if (!route) throw new TypeError(`No operation ${operationId}`);
  return client.request<unknown>(route.method, operationPath(route, input), input.body);
}
