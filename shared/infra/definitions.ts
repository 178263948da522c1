/**
 * The tables and buckets of the service, described once. The CDK app builds them in AWS and the
 * embedded stack creates them in dynalite and s3rver from these same definitions.
 */

export interface TableDefinition {
  /** Logical id in CDK and the base of the table name locally. */
  readonly id: string;
  /** The environment variable the functions read the table name from. */
  readonly env: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** Attribute holding an epoch-seconds expiry (DynamoDB TTL in AWS; a cleanup sweep locally). */
  readonly ttlAttribute?: string;
  readonly purpose: string;
}

export interface BucketDefinition {
  readonly id: string;
  readonly env: string;
  /** Days after which objects expire (lifecycle rule); the result bucket's is a deploy setting. */
  readonly expireAfterDays?: number;
  readonly purpose: string;
}

export const TABLES = {
  audiences: {
    id: 'Audiences',
    env: 'AUDIENCES_TABLE',
    partitionKey: 'pk',
    purpose:
      'Partner catalogs, ingest locks and members keyed by HMAC-SHA256 of the identifier digest (one item a person a partner).',
  },
  jobs: {
    id: 'Jobs',
    env: 'JOBS_TABLE',
    partitionKey: 'pk',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
    purpose: 'Lists, matches and ingest reports, partitioned by tenant so every read is scoped to its owner.',
  },
  ledger: {
    id: 'Ledger',
    env: 'LEDGER_TABLE',
    partitionKey: 'pk',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
    purpose:
      'Privacy budget per advertiser and partner, the audit trail, and matched-set digests for difference checks.',
  },
} as const satisfies Record<string, TableDefinition>;

/**
 * How long one match may run: the state machine's timeout in AWS. A match still QUEUED or RUNNING
 * after it is dead (it counts no more against its tenant's limit), and a retired segment version
 * must stay readable longer than this (retireGraceSeconds).
 */
export const MATCH_TIMEOUT_SECONDS = 7200;
/** How long the ingest state machine may run a partner ingest after its plan (AWS). */
export const INGEST_TIMEOUT_SECONDS = 7200;

/**
 * How long one invocation of each function may run (its Lambda timeout in the CDK app). Recovery
 * derives from these when a job's record, unchanged for longer than its phase can take, is dead.
 */
export const FUNCTION_TIMEOUT_SECONDS = {
  'list-upload': 600,
  ingest: 900,
  'ingest-step': 900,
  'match-split': 900,
  'match-shard': 600,
  'match-reduce': 300,
  maintenance: 900,
} as const;

/** Attempts of an asynchronously invoked function (S3 events, maintenance): the first and two retries. */
export const ASYNC_ATTEMPTS = 3;

export const BUCKETS = {
  uploads: {
    id: 'Uploads',
    env: 'UPLOADS_BUCKET',
    expireAfterDays: 1,
    purpose:
      'Advertiser list uploads (hashed, or raw and deleted as soon as hashed). Expiry is the backstop.',
  },
  partnerDrops: {
    id: 'PartnerDrops',
    env: 'PARTNER_DROPS_BUCKET',
    expireAfterDays: 1,
    purpose: 'Partner audience files, deleted once ingested. Expiry is the backstop.',
  },
  results: {
    id: 'Results',
    env: 'RESULTS_BUCKET',
    purpose: 'Aggregate results (JSON, CSV), ingest manifests of keyed digests and match shards.',
  },
} as const satisfies Record<string, BucketDefinition>;

/** Object key layout inside the buckets; one place so handlers and infrastructure agree. */
export const OBJECT_KEYS = {
  hashedList: (tenantId: string, listId: string) => `lists/${tenantId}/${listId}.hashed`,
  rawList: (tenantId: string, listId: string) => `raw/${tenantId}/${listId}`,
  partnerDrop: (partnerId: string, audienceId: string) => `audiences/${partnerId}/${audienceId}.csv`,
  resultJson: (tenantId: string, matchId: string) => `results/${tenantId}/${matchId}.json`,
  resultCsv: (tenantId: string, matchId: string) => `results/${tenantId}/${matchId}.csv`,
  shard: (matchId: string, shard: number) => `shards/${matchId}/${String(shard).padStart(3, '0')}.bin`,
  tally: (matchId: string, shard: number) => `tallies/${matchId}/${String(shard).padStart(3, '0')}.json`,
  /** The shard's matched partner people, a sorted binary run (beside its tally: same lifetime). */
  matchedRun: (matchId: string, shard: number) => `tallies/${matchId}/${String(shard).padStart(3, '0')}.run`,
  /** A segment version's keyed values as first written: one object (read, never written now). */
  manifest: (partnerId: string, keyId: string, segmentId: string, version: number) =>
    `manifests/${partnerId}/${keyId}/${segmentId}/${version}.keys`,
  /** A segment version's keyed values of one filter part (by the keyed value's top bits). */
  manifestPart: (partnerId: string, keyId: string, segmentId: string, version: number, part: number) =>
    `manifests/${partnerId}/${keyId}/${segmentId}/${version}/${String(part).padStart(2, '0')}.keys`,
  /** One part of a catalog version's membership filter. */
  filterPart: (partnerId: string, keyId: string, filterId: string, part: number) =>
    `filters/${partnerId}/${keyId}/${filterId}/${String(part).padStart(2, '0')}.bf`,
  /** An ingest's intermediate files (people shards, identifier runs, counts): deleted when it ends. */
  ingestWork: (partnerId: string, audienceId: string) => `ingest/${partnerId}/${audienceId}/`,
} as const;

/** S3 prefixes that trigger functions. */
export const TRIGGERS = {
  rawListPrefix: 'raw/',
  partnerDropPrefix: 'audiences/',
} as const;
