/**
 * Ports: the narrow interfaces the domain core needs from the outside world. Adapters under
 * shared/adapters implement them (in memory, DynamoDB, S3); the domain never imports the AWS SDK.
 */
import type { JobRecord } from './jobs.ts';
import type { AudienceSnapshot, IdentifierKind, PartnerCatalog } from './model.ts';
import type { Budget, BudgetAccount, BudgetAccountKind, MicroRho } from './privacy/budget.ts';

/**
 * Turns an identifier digest (32 bytes of SHA-256) into the key stored at rest: HMAC-SHA256 under
 * a secret pepper (docs/privacy.md, rule 6), so a leaked table cannot be reversed by hashing a dictionary.
 */
export interface AudienceKeyer {
  /** Identifies the pepper, for rotation. */
  readonly keyId: string;
  /** base64url of HMAC-SHA256(pepper, digest). */
  key(digest: Uint8Array): string;
  /**
   * Optional batch form: the raw 32-byte keys (whose base64url is what `key` returns) of `count`
   * digests back to back in `digests` from `from`, written back to back to `out` from `at`.
   */
  keyInto?(digests: Uint8Array, from: number, count: number, out: Uint8Array, at: number): void;
}

/**
 * A partner person an identifier belongs to: its person key (the keyed value of its primary
 * identifier), the kind of the identifier that was hit, and its segments in the snapshot.
 */
export interface MemberHit {
  person: string;
  kind: IdentifierKind;
  segments: readonly string[];
}

/** Partner audiences: the catalog and, for a batch of keyed digests, the people they identify. */
export interface AudienceStore {
  /** The partner's catalog pinned now; undefined when the partner has none. */
  snapshot(partnerId: string): Promise<AudienceSnapshot | undefined>;
  /**
   * For each key (same order), the partner people it identifies (usually one; a shared identifier,
   * such as a household phone, several) with their segment ids in the snapshot's versions. Keys
   * absent from the audience, or whose people are in no pinned version, give an empty array.
   */
  memberships(
    snapshot: AudienceSnapshot,
    keys: readonly string[],
  ): Promise<ReadonlyArray<readonly MemberHit[]>>;
  /**
   * Optional binary form of `memberships`: `count` raw 32-byte keys back to back in `keys` (a key
   * at rest is their base64url), answered the same way. A store that holds its data in this process
   * may answer synchronously (no promise per batch); a remote one returns a promise. A store without
   * it is asked with the base64url keys.
   */
  membershipsOfKeys?(
    snapshot: AudienceSnapshot,
    keys: Uint8Array,
    count: number,
  ): ReadonlyArray<readonly MemberHit[]> | Promise<ReadonlyArray<readonly MemberHit[]>>;
  /**
   * Optional binary form for a store holding its data in this process: adds the partner people
   * that `count` raw 32-byte keys (back to back in `keys`) identify straight to `into`, with the
   * kind bit of the identifier hit and each of their segments of the pinned snapshot (by index in
   * `snapshot.segments`), synchronously, no object per hit. The same people and segments as
   * `memberships`; a person is added only when in at least one segment of the snapshot.
   */
  addMembershipsOfKeys?(
    snapshot: AudienceSnapshot,
    keys: Uint8Array,
    count: number,
    into: MembershipSink,
  ): void;
}

/**
 * Where `addMembershipsOfKeys` puts what it finds (the shard's matched-people table). A person is
 * numbered by its key: the same key, given as a string or as the 32 bytes it is the base64url of,
 * is the same person.
 */
export interface MembershipSink {
  /** The number of the person with this key. */
  person(key: string): number;
  /** The number of the person whose key is base64url of `bytes[at..at+32]`. */
  rawPerson(bytes: Uint8Array, at: number): number;
  /** The person was hit through identifiers of these kinds (bits by IDENTIFIER_KINDS order). */
  addKinds(person: number, kinds: number): void;
  /** The person is in the snapshot segment at this index. */
  addSegment(person: number, segment: number): void;
}

/** A source of uniformly random 32-bit words from a cryptographic generator. */
export type RandomWords = (count: number) => Uint32Array;

/**
 * One identifier of a partner's audience (one item): its keyed digest, its kind, and the people it
 * identifies, each with its `segmentId#version` tokens. A record with no people is deleted.
 */
export interface MemberRecord {
  key: string;
  kind: IdentifierKind;
  people: ReadonlyArray<{ person: string; tokens: readonly string[] }>;
  /**
   * On the item of a person's own key (its first identifier in kind order): the keyed values of
   * that person's other identifiers, so an erasure by any identifier finds all of them.
   */
  links?: readonly string[];
}

/** What partner ingest needs beyond reading: catalogs, member records and a per-partner lock. */
export interface AudienceWriter {
  readCatalog(partnerId: string): Promise<PartnerCatalog | undefined>;
  /** Writes the catalog if its stored revision is still `expectedRevision` (0 = absent); false otherwise. */
  writeCatalog(catalog: PartnerCatalog, expectedRevision: number): Promise<boolean>;
  readMembers(partnerId: string, keyId: string, keys: readonly string[]): Promise<Map<string, MemberRecord>>;
  /** Puts each record; a record with no people (or people without tokens) is deleted. */
  writeMembers(partnerId: string, keyId: string, records: readonly MemberRecord[]): Promise<void>;
  /** Takes the partner's ingest lock for `ttlSeconds`, or returns false when another holder has it. */
  acquireLock(partnerId: string, owner: string, ttlSeconds: number): Promise<boolean>;
  /** Adds a partner to the registry GET /v1/partners lists. */
  registerPartner(partnerId: string): Promise<void>;
  listPartners(): Promise<string[]>;
  releaseLock(partnerId: string, owner: string): Promise<void>;
  /** The partner's lock as stored (expired or not), for recovery to judge its holder; undefined when free. */
  readLock(partnerId: string): Promise<LockState | undefined>;
}

/** A held partner lock: who holds it, until when, and the embedded stack's start that took it. */
export interface LockState {
  owner: string;
  /** Epoch seconds. */
  expiresAt: number;
  instance?: string;
}

/** Object storage (S3): streaming reads, streaming multipart writes, short-lived presigned URLs. */
/** Bytes `start` (inclusive) to `end` (exclusive) of an object. */
export interface ByteRange {
  start: number;
  end: number;
  /** Read only while the object still has this entity tag (else `ObjectChanged`). */
  etag?: string;
}

/** What a HEAD tells: the object's size and entity tag. */
export interface ObjectStat {
  size: number;
  etag: string;
}

/** The object was replaced since its entity tag was taken. */
export class ObjectChanged extends Error {
  override readonly name = 'ObjectChanged';
}

export interface ObjectStore {
  /** The object's bytes, or those of `range` only. */
  read(bucket: string, key: string, range?: ByteRange): AsyncIterable<Uint8Array>;
  /** The object's size and entity tag; undefined when there is no such object. */
  stat(bucket: string, key: string): Promise<ObjectStat | undefined>;
  readText(bucket: string, key: string): Promise<string | undefined>;
  write(
    bucket: string,
    key: string,
    body: string | Uint8Array | AsyncIterable<Uint8Array>,
    contentType?: string,
  ): Promise<void>;
  delete(bucket: string, key: string): Promise<void>;
  exists(bucket: string, key: string): Promise<boolean>;
  list(bucket: string, prefix: string): Promise<string[]>;
  /** A presigned PUT, valid at most 15 minutes. */
  presignPut(bucket: string, key: string, expiresInSeconds: number, contentType: string): Promise<string>;
  /** A presigned GET, valid at most 15 minutes, downloading as `filename`. */
  presignGet(bucket: string, key: string, expiresInSeconds: number, filename: string): Promise<string>;
}

/** The longest any presigned URL lives (at most 15 minutes). */
export const MAX_PRESIGN_SECONDS = 900;

type JobKind = JobRecord['kind'];

export interface JobPage {
  limit?: number;
  /** Opaque, from the previous page. */
  cursor?: string;
}

export interface JobPageOf<T> {
  records: T[];
  /** Present when there are more records. */
  cursor?: string;
}
type JobOf<K extends JobKind> = Extract<JobRecord, { kind: K }>;

/** Lists, matches and audience uploads, always addressed through their owning tenant. */
export interface JobStore {
  create(record: JobRecord): Promise<void>;
  get<K extends JobKind>(kind: K, tenantId: string, id: string): Promise<JobOf<K> | undefined>;
  /** Patches fields; when `expectedStatus` is given, only if the stored status is one of them. */
  update<K extends JobKind>(
    kind: K,
    tenantId: string,
    id: string,
    patch: Partial<JobOf<K>>,
    expectedStatus?: readonly string[],
  ): Promise<boolean>;
  /** A page of the tenant's records of a kind, newest first. */
  list<K extends JobKind>(kind: K, tenantId: string, page?: JobPage): Promise<JobPageOf<JobOf<K>>>;
  /** Counts one more finished shard of a match, atomically (shards finish concurrently). */
  shardDone(tenantId: string, matchId: string): Promise<void>;
  /** Deletes a record; false when there was none. */
  remove(kind: JobKind, tenantId: string, id: string): Promise<boolean>;
  /** How many of the tenant's matches created at or after `since` are still QUEUED or RUNNING. */
  countMatchesInFlight(tenantId: string, since: Date): Promise<number>;
  /**
   * Every tenant's records still HASHING, INGESTING, QUEUED or RUNNING: what recovery judges. A scan
   * (recovery runs hourly in AWS; in-flight records are few).
   */
  listInFlight(): Promise<JobRecord[]>;
  /** Every tenant's records of a kind created before `before`: what retention judges (a scan). */
  listCreatedBefore<K extends JobKind>(kind: K, before: Date): Promise<JobOf<K>[]>;
}

/** One line of the audit trail: a match, a catalog publication or a grant, with its spend. */
export interface AuditEntry {
  tenantId: string;
  /** The match, audience upload or grant the entry is about. */
  matchId: string;
  partnerId: string;
  at: string;
  event:
    | 'match-released'
    | 'match-refused'
    | 'match-replayed'
    | 'catalog-published'
    | 'budget-granted'
    | 'list-deleted'
    | 'match-deleted'
    | 'match-expired'
    | 'list-expired'
    | 'people-erased'
    | 'segment-deleted';
  k: number;
  /** zCDP rho spent (0 for refusals and replays; the grant's amount for grants). */
  rhoSpent: number;
  /** The budget period charged, e.g. `2026-11`. */
  period?: string;
  /** This advertiser's budget against the partner left after the event (null when not relevant). */
  rhoLeft: number | null;
  noise: string;
  rounding: string;
  suppressedSegments: number;
  code?: string;
  /** For a replay: the match whose release it repeats. */
  replayOf?: string;
  /** For a grant: the account, who granted and why (no personal data). */
  grant?: { account: BudgetAccountKind; advertiserId?: string; by: string; reason: string };
}

/** An earlier release of an advertiser against a partner: what replays are recognised by. */
export interface ReleaseEntry {
  tenantId: string;
  partnerId: string;
  matchId: string;
  /** Order- and duplicate-independent keyed fingerprint of the list's distinct people. */
  listFingerprint: string;
  /** The partner versions the match read (`segment#version` joined). */
  versions: string;
  k: number;
  createdAt: string;
}

/**
 * Budgets and the audit trail. Spending is atomic under concurrency, idempotent per charge, and
 * never refills within a period; only an audited grant adds to a period's allowance.
 */
export interface Ledger {
  /** The account's state; `allowance` is the deployment's, used when the account is new. */
  budget(account: BudgetAccount, allowance: MicroRho): Promise<Budget>;
  /**
   * Spends `cost` for `chargeId` if the account has it left, atomically; spending again for the same
   * charge is a no-op that returns the state. Throws DomainError 'privacy-budget-exhausted' otherwise.
   */
  spend(account: BudgetAccount, chargeId: string, cost: MicroRho, allowance: MicroRho): Promise<Budget>;
  /** Gives back a charge that released nothing (another account refused); a no-op when absent. */
  refund(account: BudgetAccount, chargeId: string, cost: MicroRho): Promise<void>;
  /** Adds to the period's allowance, once per `grantId`. */
  grant(account: BudgetAccount, grantId: string, amount: MicroRho, allowance: MicroRho): Promise<Budget>;
  /** Indexes a release for replays until `expiresAt` (epoch seconds). */
  recordRelease(entry: ReleaseEntry, expiresAt: number): Promise<void>;
  /** The advertiser's unexpired releases against the partner, oldest first. */
  releases(advertiserId: string, partnerId: string, now: Date): Promise<ReleaseEntry[]>;
  /** Forgets a release (its match was deleted): it no longer serves replays. Spends stay spent. */
  forgetRelease(advertiserId: string, partnerId: string, matchId: string): Promise<void>;
  audit(entry: AuditEntry): Promise<void>;
  auditTrail(tenantId: string, limit?: number): Promise<AuditEntry[]>;
}

/** Starts the match pipeline (split, shards, reduce): Step Functions in AWS, worker threads locally. */
export interface MatchRunner {
  start(job: { tenantId: string; matchId: string }): Promise<void>;
}

/**
 * Where an ingest's steps after its plan run: the ingest state machine in AWS (`start`, which then
 * ends the ingest), or worker threads for its map steps in the embedded stack (`map`). Neither: one
 * after another in the ingest's own invocation.
 */
export interface IngestRunner {
  /** Starts the steps after the plan (AWS: the ingest state machine), from the split of `ranges`. */
  start?(job: { partnerId: string; audienceId: string; ranges: number[] }): Promise<void>;
  map?(
    step: 'split' | 'people' | 'identifiers',
    job: { partnerId: string; audienceId: string },
    items: number[],
  ): Promise<void>;
}

/** Background maintenance: re-keying after a pepper rotation, sweeps of retired versions. */
export interface MaintenanceRunner {
  start(action: 'rekey' | 'sweep'): Promise<void>;
}

/** The narrow logger the use cases take. Messages and fields never carry personal data. */
export interface DomainLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}
