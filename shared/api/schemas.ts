/**
 * Request and response shapes of the HTTP API, as zod schemas: requests are validated with them
 * and the OpenAPI document at /v1/openapi.json is generated from them.
 */
import { z } from 'zod';
import { isUsableSegmentId, SEGMENT_ID_PATTERN } from '../domain/jobs.ts';
import { MatchResultSchema } from '../domain/result/result-schema.ts';
import { PROBLEM_CODES, type ProblemCode } from './problem.ts';

export const ProfileSchema = z.enum(['basic', 'google', 'uid2']);
export const IdentifierKindSchema = z.enum(['email', 'phone']);
export const EncodingSchema = z.enum(['hex', 'base64']);
export const IdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'an id of letters, digits, _ and -');

const count = z.number().int().nonnegative();

export const ClientListSummarySchema = z
  .object({
    rows: count,
    valid: count,
    invalid: count,
    invalidByReason: z.record(z.string().max(64), count),
    duplicates: count,
    distinct: count,
  })
  .describe("What the advertiser's own machine counted while hashing (rows, invalid by reason).");

export const CreateListRequestSchema = z
  .object({
    format: z.enum(['hashed', 'raw']).default('hashed'),
    profile: ProfileSchema.default('basic'),
    kind: IdentifierKindSchema.default('email'),
    kinds: z
      .array(IdentifierKindSchema)
      .min(1)
      .max(8)
      .optional()
      .describe('The identifier kinds the list holds (a hashed list: the tags of its lines).'),
    encoding: EncodingSchema.optional(),
    region: z
      .string()
      .regex(/^[A-Z]{2}$/)
      .optional(),
    column: z.string().max(64).optional(),
    summary: ClientListSummarySchema.optional(),
  })
  .strict();

export const UploadTicketSchema = z.object({
  url: z.url(),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()),
  expiresAt: z.iso.datetime(),
});

export const CreateListResponseSchema = z.object({ listId: z.string(), upload: UploadTicketSchema });

export const ListViewSchema = z.object({
  listId: z.string(),
  /** EXPIRED: the upload passed its lifecycle expiry (uploads are kept one day); upload it again. */
  status: z.enum(['AWAITING_UPLOAD', 'HASHING', 'READY', 'FAILED', 'EXPIRED']),
  format: z.enum(['hashed', 'raw']),
  profile: ProfileSchema,
  kind: IdentifierKindSchema,
  summary: ClientListSummarySchema.optional(),
  code: z.string().optional(),
  detail: z.string().optional(),
  createdAt: z.iso.datetime(),
});

export const CreateMatchRequestSchema = z
  .object({
    listId: IdSchema,
    partnerId: IdSchema,
    minSegmentSize: z.number().int().optional(),
  })
  .strict();

export const MatchCheckRequestSchema = z
  .object({
    partnerId: IdSchema,
    kinds: z.array(IdentifierKindSchema).min(1).max(8).describe('The identifier kinds the list holds.'),
    minSegmentSize: z.number().int().optional(),
    distinct: count.optional().describe('Distinct list people, once the list is hashed locally.'),
  })
  .strict();

export const MatchCheckResponseSchema = z.object({
  partnerId: z.string(),
  profile: ProfileSchema,
  kinds: z
    .array(IdentifierKindSchema)
    .describe("The kinds the match will use: the list's that the partner has."),
  k: z.number().int(),
  minListSize: z.number().int(),
  rhoPerMatch: z.number(),
  matchesLeft: z.number().int().nullable(),
});

export const MatchStatusSchema = z.enum(['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED']);

export const MatchViewSchema = z.object({
  matchId: z.string(),
  listId: z.string(),
  partnerId: z.string(),
  status: MatchStatusSchema,
  minSegmentSize: z.number().int(),
  progress: z.object({
    phase: z.enum(['queued', 'splitting', 'matching', 'reducing', 'done']),
    shardsDone: count,
    shardsTotal: count,
    percent: z.number().min(0).max(100),
  }),
  code: z.string().optional(),
  detail: z.string().optional(),
  result: MatchResultSchema.optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const MatchListSchema = z.object({
  matches: z.array(MatchViewSchema.omit({ result: true })),
  /** Pass as `cursor` for the next page; absent on the last. */
  nextCursor: z.string().optional(),
});

export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/)
    .optional(),
});

export const DownloadQuerySchema = z.object({ format: z.enum(['csv', 'json']).default('csv') });
export const DownloadResponseSchema = z.object({
  url: z.url(),
  format: z.enum(['csv', 'json']),
  expiresAt: z.iso.datetime(),
});

export const SegmentDeclarationSchema = z
  .object({
    segmentId: z
      .string()
      .regex(SEGMENT_ID_PATTERN, 'letters, digits, _ . and -, at most 64')
      .refine(isUsableSegmentId, 'a reserved name (constructor, toString, ...) cannot be a segment id'),
    name: z.string().min(1).max(120),
    description: z.string().max(1000).default(''),
  })
  .strict();

export const CreateAudienceRequestSchema = z
  .object({
    profile: ProfileSchema.default('basic'),
    segments: z
      .array(SegmentDeclarationSchema)
      .min(1)
      .max(500)
      .refine((s) => new Set(s.map((x) => x.segmentId)).size === s.length, 'segment ids must be unique'),
    maxRejectedShare: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        'The most rows the ingest may reject, as a share of rows read, before it fails and changes nothing (default 0.1).',
      ),
    dryRun: z.boolean().optional().describe('Read and report only: nothing is written, published or spent.'),
  })
  .strict();

const digestList = z.array(z.string().max(64)).max(1_000).optional();

export const ErasureRequestSchema = z
  .object({
    email_sha256: digestList.describe(
      'SHA-256 digests of normalized emails (hashed as the partner hashes its members).',
    ),
    phone_sha256: digestList.describe('SHA-256 digests of E.164 phone numbers.'),
  })
  .strict()
  .describe(
    'People to remove from every segment, by any of their identifiers (at most 1,000 a request). Each person an identifier identifies goes, with all their other identifiers; a shared identifier (a household phone) identifies everyone who gave it.',
  );

export const ErasureResponseSchema = z
  .object({
    erasureId: z.string(),
    partnerId: z.string(),
    identifiers: count.describe('Distinct identifiers named.'),
    found: count.describe('Of those, how many the audience held.'),
    people: count.describe('Partner people removed from every segment.'),
    identifiersRemoved: count.describe('Identifier items deleted (those nobody else holds).'),
  })
  .describe(
    'What the erasure removed. Published catalog sizes are unchanged until the next upload of a segment.',
  );

export const SegmentDeletionResponseSchema = z.object({
  partnerId: z.string(),
  segmentId: z.string(),
  deleted: z.literal(true),
  membersPurgedBy: z
    .string()
    .describe(
      'When the members of the deleted segment are swept from the table (after running matches end).',
    ),
});

export const CreateAudienceResponseSchema = z.object({ audienceId: z.string(), upload: UploadTicketSchema });

export const IngestReportViewSchema = z.object({
  audienceId: z.string(),
  partnerId: z.string(),
  status: z.enum(['AWAITING_UPLOAD', 'INGESTING', 'SUCCEEDED', 'FAILED']),
  profile: ProfileSchema,
  segments: z.array(SegmentDeclarationSchema),
  report: z
    .object({
      rowsRead: count,
      accepted: count,
      rejected: count,
      rejectedByRule: z.record(z.string(), z.object({ count, rows: z.array(z.number().int()) })),
      duplicates: count,
      segments: z.array(z.object({ segmentId: z.string(), members: count, version: z.number().int() })),
      dryRun: z.boolean().optional().describe('A dry run: read and counted, nothing written or published.'),
    })
    .optional(),
  code: z.string().optional(),
  detail: z.string().optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const PartnerCatalogViewSchema = z.object({
  partners: z.array(
    z.object({
      partnerId: z.string(),
      profile: ProfileSchema,
      kinds: z
        .array(IdentifierKindSchema)
        .describe('The identifier kinds the partner holds: a list must hold one of them to match anyone.'),
      baseSize: count
        .nullable()
        .describe('Distinct people across all segments, noisy and rounded; null when not published.'),
      segments: z.array(
        z.object({
          segmentId: z.string(),
          name: z.string(),
          description: z.string(),
          kinds: z.array(IdentifierKindSchema).describe('The identifier kinds its members were given with.'),
          size: count
            .nullable()
            .describe(
              'People in the segment, noisy (drawn once per version) and rounded to 10; null when under k or not published.',
            ),
        }),
      ),
    }),
  ),
});

export const AuditViewSchema = z.object({
  entries: z.array(
    z.object({
      tenantId: z.string(),
      matchId: z.string(),
      partnerId: z.string(),
      at: z.iso.datetime(),
      event: z.string(),
      k: z.number().int(),
      rhoSpent: z.number(),
      period: z.string().optional(),
      rhoLeft: z.number().nullable(),
      noise: z.string(),
      rounding: z.string(),
      suppressedSegments: count,
      code: z.string().optional(),
      replayOf: z.string().optional(),
      grant: z
        .object({
          account: z.enum(['advertiser-partner', 'partner', 'catalog']),
          advertiserId: z.string().optional(),
          by: z.string(),
          reason: z.string(),
        })
        .optional(),
    }),
  ),
});

export const BudgetViewSchema = z.object({
  partnerId: z.string(),
  noise: z.boolean(),
  period: z.string().describe('The budget period, e.g. 2026-11 (calendar month, UTC).'),
  renewsAt: z.iso.datetime(),
  rhoPerMatch: z.number().describe('zCDP rho one match costs.'),
  advertiser: z.object({
    allowance: z.number(),
    granted: z.number(),
    spent: z.number(),
    left: z.number(),
  }),
  partnerLeft: z.number().describe("Rho left in the partner's budget across all advertisers."),
  matchesLeft: z.number().int().nullable(),
});

export const BudgetGrantRequestSchema = z.object({
  partnerId: IdSchema,
  account: z.enum(['advertiser-partner', 'partner', 'catalog']),
  advertiserId: IdSchema.optional(),
  rho: z.number().positive().max(10),
  reason: z.string().min(3).max(500),
});

export const BudgetGrantResponseSchema = z.object({
  grantId: z.string(),
  account: z.enum(['advertiser-partner', 'partner', 'catalog']),
  partnerId: z.string(),
  advertiserId: z.string().optional(),
  period: z.string(),
  granted: z.number(),
  left: z.number(),
});

export const HealthSchema = z.object({
  status: z.literal('ok'),
  service: z.string(),
  time: z.iso.datetime(),
});

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int().min(400).max(599),
  /** One of a closed list: clients may branch on it. */
  code: z.enum(PROBLEM_CODES as [ProblemCode, ...ProblemCode[]]),
  detail: z.string(),
  instance: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
