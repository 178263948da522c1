/**
 * The HTTP API `/v1`: one table of routes, each with its request schemas, the roles allowed and
 * the use case it calls. The router, the OpenAPI document and the CDK routes all read this table.
 */
import { z } from 'zod';
import { type MatchRecord, SEGMENT_ID_PATTERN } from '../domain/jobs.ts';
import type { Principal, Role } from '../domain/principal.ts';
import { readAudit } from '../use-cases/audit.ts';
import { type GrantInput, grantBudget, readBudget } from '../use-cases/budgets.ts';
import type { UseCaseContext } from '../use-cases/context.ts';
import { deleteList, deleteMatch } from '../use-cases/deletion.ts';
import { deleteSegment, type ErasureInput, erasePeople } from '../use-cases/erasure.ts';
import { createList, getList } from '../use-cases/lists.ts';
import {
  type CheckMatchInput,
  checkMatch,
  downloadMatch,
  getMatch,
  listMatches,
  startMatch,
} from '../use-cases/matches.ts';
import {
  createAudienceUpload,
  getAudienceUpload,
  listPartnerCatalogs,
  startRekey,
} from '../use-cases/partners.ts';
import {
  AuditViewSchema,
  BudgetGrantRequestSchema,
  BudgetGrantResponseSchema,
  BudgetViewSchema,
  CreateAudienceRequestSchema,
  CreateAudienceResponseSchema,
  CreateListRequestSchema,
  CreateListResponseSchema,
  CreateMatchRequestSchema,
  DownloadQuerySchema,
  DownloadResponseSchema,
  ErasureRequestSchema,
  ErasureResponseSchema,
  HealthSchema,
  IdSchema,
  IngestReportViewSchema,
  ListViewSchema,
  MatchCheckRequestSchema,
  MatchCheckResponseSchema,
  MatchListSchema,
  MatchViewSchema,
  PageQuerySchema,
  PartnerCatalogViewSchema,
  SegmentDeletionResponseSchema,
} from './schemas.ts';

export interface RouteRequest {
  principal: Principal;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI-style path, e.g. `/v1/matches/{id}`. */
  path: string;
  /**
   * The stable name of the operation (lowerCamelCase, unique): the OpenAPI `operationId`, the
   * method name client generators derive from it, and the key of the CLI's typed client. Never
   * rename one; a route without one does not type-check.
   */
  operationId: string;
  summary: string;
  /** Undefined: public (no token). */
  roles?: readonly Role[];
  params?: z.ZodType<Record<string, string>>;
  query?: z.ZodType;
  body?: z.ZodType;
  status: number;
  response: z.ZodType;
  handle(ctx: UseCaseContext, req: RouteRequest): Promise<unknown>;
}

const ADVERTISER: readonly Role[] = ['advertiser'];
const ANY_TENANT: readonly Role[] = ['advertiser', 'partner', 'admin'];
const PARTNER: readonly Role[] = ['partner', 'admin'];

const idParam = z.object({ id: IdSchema });

export function matchView(m: MatchRecord) {
  const total = m.progress.shardsTotal;
  const percent =
    m.status === 'SUCCEEDED'
      ? 100
      : m.progress.phase === 'queued'
        ? 0
        : m.progress.phase === 'splitting'
          ? 5
          : Math.min(99, 10 + Math.round((85 * m.progress.shardsDone) / Math.max(1, total)));
  return {
    matchId: m.matchId,
    listId: m.listId,
    partnerId: m.partnerId,
    status: m.status,
    minSegmentSize: m.minSegmentSize,
    progress: { ...m.progress, percent },
    ...(m.errorCode ? { code: m.errorCode } : {}),
    ...(m.errorDetail ? { detail: m.errorDetail } : {}),
    ...(m.result ? { result: m.result } : {}),
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
  };
}

/**
 * The table with each entry's own types (`as const`): the typed client infers every operation's
 * input and response from it by `operationId`. `satisfies` makes an entry missing a field (an
 * `operationId` above all) a type error.
 */
export const ROUTE_TABLE = [
  {
    method: 'GET',
    path: '/v1/health',
    operationId: 'getHealth',
    summary: 'Liveness of the API',
    status: 200,
    response: HealthSchema,
    handle: async (ctx) => ({ status: 'ok', service: 'onboard', time: ctx.now().toISOString() }),
  },
  {
    method: 'POST',
    path: '/v1/lists',
    operationId: 'createList',
    summary: 'Register a list and get a presigned upload URL (15 minutes)',
    roles: ADVERTISER,
    body: CreateListRequestSchema,
    status: 201,
    response: CreateListResponseSchema,
    handle: (ctx, r) => createList(ctx, r.principal, r.body as z.infer<typeof CreateListRequestSchema>),
  },
  {
    method: 'GET',
    path: '/v1/lists/{id}',
    operationId: 'getList',
    summary: 'A list: status and summary',
    roles: ADVERTISER,
    params: idParam,
    status: 200,
    response: ListViewSchema,
    handle: async (ctx, r) => {
      const l = await getList(ctx, r.principal, r.params.id as string);
      return {
        listId: l.listId,
        status: l.status,
        format: l.format,
        profile: l.profile,
        kind: l.identifierKind,
        ...(l.summary ? { summary: l.summary } : {}),
        ...(l.errorCode ? { code: l.errorCode } : {}),
        ...(l.errorDetail ? { detail: l.errorDetail } : {}),
        createdAt: l.createdAt,
      };
    },
  },
  {
    method: 'POST',
    path: '/v1/matches',
    operationId: 'startMatch',
    summary: 'Start a match of a list against a partner',
    roles: ADVERTISER,
    body: CreateMatchRequestSchema,
    status: 202,
    response: z.object({ matchId: z.string(), status: z.string() }),
    handle: (ctx, r) => startMatch(ctx, r.principal, r.body as z.infer<typeof CreateMatchRequestSchema>),
  },
  {
    method: 'POST',
    path: '/v1/matches/check',
    operationId: 'checkMatch',
    summary:
      'Whether a match can run, before hashing or uploading: partner, identifier kinds, k, budget, list size',
    roles: ADVERTISER,
    body: MatchCheckRequestSchema,
    status: 200,
    response: MatchCheckResponseSchema,
    handle: (ctx, r) => checkMatch(ctx, r.principal, r.body as CheckMatchInput),
  },
  {
    method: 'GET',
    path: '/v1/matches',
    operationId: 'listMatches',
    summary: "The caller's matches, newest first",
    roles: ADVERTISER,
    query: PageQuerySchema,
    status: 200,
    response: MatchListSchema,
    handle: async (ctx, r) => {
      const page = await listMatches(ctx, r.principal, r.query as unknown as z.infer<typeof PageQuerySchema>);
      return {
        matches: page.records.map((m) => {
          const { result: _result, ...view } = matchView(m);
          return view;
        }),
        ...(page.cursor ? { nextCursor: page.cursor } : {}),
      };
    },
  },
  {
    method: 'GET',
    path: '/v1/matches/{id}',
    operationId: 'getMatch',
    summary: 'A match: status, progress, and the result once SUCCEEDED',
    roles: ADVERTISER,
    params: idParam,
    status: 200,
    response: MatchViewSchema,
    handle: async (ctx, r) => matchView(await getMatch(ctx, r.principal, r.params.id as string)),
  },
  {
    method: 'GET',
    path: '/v1/matches/{id}/download',
    operationId: 'getMatchDownload',
    summary: 'A presigned URL for the anonymized audience file',
    roles: ADVERTISER,
    params: idParam,
    query: DownloadQuerySchema,
    status: 200,
    response: DownloadResponseSchema,
    handle: (ctx, r) =>
      downloadMatch(
        ctx,
        r.principal,
        r.params.id as string,
        (r.query as z.infer<typeof DownloadQuerySchema>).format,
      ),
  },
  {
    method: 'GET',
    path: '/v1/partners',
    operationId: 'listPartners',
    summary: 'Partners and their segment catalogs (names and sizes, never members)',
    roles: ANY_TENANT,
    status: 200,
    response: PartnerCatalogViewSchema,
    handle: (ctx, r) => listPartnerCatalogs(ctx, r.principal),
  },
  {
    method: 'POST',
    path: '/v1/partners/{id}/audiences',
    operationId: 'createAudienceUpload',
    summary: 'Declare segments and get a presigned upload URL for their members file',
    roles: PARTNER,
    params: idParam,
    body: CreateAudienceRequestSchema,
    status: 201,
    response: CreateAudienceResponseSchema,
    handle: (ctx, r) =>
      createAudienceUpload(
        ctx,
        r.principal,
        r.params.id as string,
        r.body as z.infer<typeof CreateAudienceRequestSchema>,
      ),
  },
  {
    method: 'GET',
    path: '/v1/partners/{id}/audiences/{audienceId}',
    operationId: 'getAudienceUpload',
    summary: 'The ingest report of an audience upload',
    roles: PARTNER,
    params: z.object({ id: IdSchema, audienceId: IdSchema }),
    status: 200,
    response: IngestReportViewSchema,
    handle: async (ctx, r) => {
      const a = await getAudienceUpload(
        ctx,
        r.principal,
        r.params.id as string,
        r.params.audienceId as string,
      );
      return {
        audienceId: a.audienceId,
        partnerId: a.tenantId,
        status: a.status,
        profile: a.profile,
        segments: a.segments,
        ...(a.report ? { report: a.report } : {}),
        ...(a.errorCode ? { code: a.errorCode } : {}),
        ...(a.errorDetail ? { detail: a.errorDetail } : {}),
        createdAt: a.createdAt,
        updatedAt: a.updatedAt,
      };
    },
  },
  {
    method: 'GET',
    path: '/v1/partners/{id}/budget',
    operationId: 'getBudget',
    summary:
      "The caller's privacy budget against a partner this period: the cost of a match, what is left, when it renews",
    roles: ADVERTISER,
    params: idParam,
    status: 200,
    response: BudgetViewSchema,
    handle: (ctx, r) => readBudget(ctx, r.principal, r.params.id as string),
  },
  {
    method: 'POST',
    path: '/v1/admin/pepper/rekey',
    operationId: 'startRekey',
    summary: 'Operator: re-key every partner under the current pepper key (after a rotation)',
    roles: ['admin'],
    status: 202,
    response: z.object({ status: z.literal('started'), keyId: z.string() }),
    handle: (ctx, r) => startRekey(ctx, r.principal),
  },
  {
    method: 'DELETE',
    path: '/v1/lists/{id}',
    operationId: 'deleteList',
    summary:
      'Delete a list: its record and its hashed and raw objects (audited). Matches of it keep their results.',
    roles: ADVERTISER,
    params: idParam,
    status: 200,
    response: z.object({ listId: z.string(), deleted: z.literal(true) }),
    handle: (ctx, r) => deleteList(ctx, r.principal, r.params.id as string),
  },
  {
    method: 'DELETE',
    path: '/v1/matches/{id}',
    operationId: 'deleteMatch',
    summary:
      'Delete a finished match: its record, result files and replay entry (audited). Its privacy budget spend stays spent.',
    roles: ADVERTISER,
    params: idParam,
    status: 200,
    response: z.object({ matchId: z.string(), deleted: z.literal(true) }),
    handle: (ctx, r) => deleteMatch(ctx, r.principal, r.params.id as string),
  },
  {
    method: 'POST',
    path: '/v1/partners/{id}/erasures',
    operationId: 'erasePeople',
    summary:
      'Partner: remove people from every segment by any of their identifiers (an opt-out or erasure request; audited with ids only). No budget is refilled.',
    roles: PARTNER,
    params: idParam,
    body: ErasureRequestSchema,
    status: 200,
    response: ErasureResponseSchema,
    handle: (ctx, r) => erasePeople(ctx, r.principal, r.params.id as string, r.body as ErasureInput),
  },
  {
    method: 'DELETE',
    path: '/v1/partners/{id}/segments/{segmentId}',
    operationId: 'deleteSegment',
    summary:
      'Partner: delete a segment. It leaves the catalog at once; its members are swept once running matches are done (audited).',
    roles: PARTNER,
    params: z.object({ id: IdSchema, segmentId: z.string().regex(SEGMENT_ID_PATTERN, 'a segment id') }),
    status: 200,
    response: SegmentDeletionResponseSchema,
    handle: (ctx, r) => deleteSegment(ctx, r.principal, r.params.id as string, r.params.segmentId as string),
  },
  {
    method: 'POST',
    path: '/v1/admin/budgets/grants',
    operationId: 'grantBudget',
    summary:
      'Operator: add rho to one budget account for the current period (audited for the operator and the tenant)',
    roles: ['admin'],
    body: BudgetGrantRequestSchema,
    status: 201,
    response: BudgetGrantResponseSchema,
    handle: (ctx, r) => grantBudget(ctx, r.principal, r.body as GrantInput),
  },
  {
    method: 'GET',
    path: '/v1/audit',
    operationId: 'getAudit',
    summary: 'The audit trail: every match with its privacy parameters and spend (operator: ?tenant=)',
    roles: ANY_TENANT,
    query: z.object({ tenant: IdSchema.optional() }),
    status: 200,
    response: AuditViewSchema,
    handle: (ctx, r) => readAudit(ctx, r.principal, (r.query as { tenant?: string }).tenant),
  },
] as const satisfies readonly Route[];

export const ROUTES: readonly Route[] = ROUTE_TABLE;

/** Every operation's name, as a type. */
export type OperationId = (typeof ROUTE_TABLE)[number]['operationId'];
