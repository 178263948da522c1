/**
 * The attacker's kit for the privacy attack tests: upload an exact hashed list (the attacker
 * controls every byte: order, duplicates, encodings), start and wait for matches, read budgets,
 * project results onto what an attacker can observe, and dump every object and item at rest.
 * Everything goes through the HTTP API of the embedded stack, except the at-rest dumps (which
 * read the stores directly, as an outsider holding a leaked bucket or table would).
 */
import { createHash } from 'node:crypto';
import {
  type AttributeValue,
  DynamoDBClient,
  ListTablesCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { type ApiClient, ApiError, uploadTo } from '../../cli/api-client.ts';
import { type MatchView, waitForMatch } from '../../cli/flows.ts';
import type { EmbeddedStack } from '../../local/embedded-stack.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import type { Profile } from '../../shared/domain/model.ts';
import type { MatchResult } from '../../shared/domain/result/result-schema.ts';

export type Result = MatchResult;

export const sha256Bytes = (value: string) => createHash('sha256').update(value, 'utf8').digest();
export const hexOf = (n: number) => sha256Bytes(personEmail(n)).toString('hex');
export const base64Of = (n: number) => sha256Bytes(personEmail(n)).toString('base64');

/** Registers a hashed list and PUTs exactly these lines (no client-side processing). */
export async function uploadHashedList(
  client: ApiClient,
  lines: readonly string[],
  options: { profile?: Profile; summary?: Record<string, unknown> } = {},
): Promise<string> {
  const created = await client.post<{
    listId: string;
    upload: { url: string; method: 'PUT'; headers: Record<string, string> };
  }>('/v1/lists', {
    format: 'hashed',
    profile: options.profile ?? 'google',
    kind: 'email',
    ...(options.summary ? { summary: options.summary } : {}),
  });
  await uploadTo(created.upload, { text: `${lines.join('\n')}\n` });
  return created.listId;
}

export async function startMatch(
  client: ApiClient,
  listId: string,
  partnerId: string,
  minSegmentSize?: number,
): Promise<string> {
  const started = await client.post<{ matchId: string }>('/v1/matches', {
    listId,
    partnerId,
    ...(minSegmentSize !== undefined ? { minSegmentSize } : {}),
  });
  return started.matchId;
}

/** Uploads the lines as a hashed list, matches it against the partner, waits for the outcome. */
export async function matchLines(
  client: ApiClient,
  partnerId: string,
  lines: readonly string[],
  options: { profile?: Profile; minSegmentSize?: number; summary?: Record<string, unknown> } = {},
): Promise<MatchView> {
  const listId = await uploadHashedList(client, lines, options);
  return waitForMatch(client, await startMatch(client, listId, partnerId, options.minSegmentSize), true);
}

/** The hex hashes of people (the google and basic profiles' encoding of personEmail(n)). */
export const hexLines = (people: readonly number[]) => people.map(hexOf);

export type { BudgetView } from '../../cli/budget-notice.ts';

import type { BudgetView } from '../../cli/budget-notice.ts';

export const budgetOf = (client: ApiClient, partnerId: string) =>
  client.get<BudgetView>(`/v1/partners/${partnerId}/budget`);

import type { AuditEntry } from '../../shared/domain/ports.ts';

export type { AuditEntry };

export const auditOf = async (client: ApiClient, tenant?: string) =>
  (await client.get<{ entries: AuditEntry[] }>(`/v1/audit${tenant ? `?tenant=${tenant}` : ''}`)).entries;

/** The ApiError a call fails with (or a failed assertion if it does not fail). */
export async function apiErrorOf(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/**
 * Everything a result tells its reader about the people in the list: each segment's released
 * value, suppression and reason, the matched total and its reason, the match rate, shares and
 * affinities. The list totals (computed from the attacker's own upload) and the noise parameters
 * are kept too. Only the generation time, the partner id (two worlds are two partners here; in
 * reality one partner in one of two states), the budget block and the replay mark (the
 * advertiser's own spending) are dropped.
 */
export function observable(result: Result | undefined) {
  if (!result) return undefined;
  const { generatedAt: _generatedAt, partner, replayOf: _replayOf, privacy, ...rest } = result;
  // The budget block and the replay mark describe the advertiser's own spending, not people.
  const { budget: _budget, ...noiseAndK } = privacy;
  return {
    ...rest,
    privacy: noiseAndK,
    partner: { profile: partner.profile },
    segments: [...result.segments].sort((a, b) => a.segmentId.localeCompare(b.segmentId)),
  };
}

export const segmentsById = (result: Result | undefined) =>
  Object.fromEntries((result?.segments ?? []).map((s) => [s.segmentId, s]));

// ---------------------------------------------------------------------------------------------
// At rest: every object of every bucket, every item of every table.

export interface StoredObject {
  bucket: string;
  key: string;
  body: string;
}

export function s3ClientFor(stack: EmbeddedStack): S3Client {
  return new S3Client({
    region: stack.env.AWS_REGION ?? 'us-east-1',
    endpoint: stack.s3Endpoint,
    forcePathStyle: true,
    credentials: {
      accessKeyId: stack.env.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY as string,
    },
  });
}

export function dynamoClientFor(stack: EmbeddedStack): DynamoDBClient {
  return new DynamoDBClient({
    region: stack.env.AWS_REGION ?? 'us-east-1',
    endpoint: stack.dynamoEndpoint,
    credentials: {
      accessKeyId: stack.env.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY as string,
    },
  });
}

/** The stack's buckets, by their environment names. */
export const bucketsOf = (stack: EmbeddedStack) => ({
  uploads: stack.env.UPLOADS_BUCKET as string,
  partnerDrops: stack.env.PARTNER_DROPS_BUCKET as string,
  results: stack.env.RESULTS_BUCKET as string,
});

export async function listAllKeys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) keys.push(o.Key as string);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Every object of every bucket, with its body as latin1 text (binary-safe for substring search). */
export async function dumpBuckets(stack: EmbeddedStack, s3: S3Client): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for (const bucket of Object.values(bucketsOf(stack))) {
    for (const key of await listAllKeys(s3, bucket)) {
      let got: GetObjectCommandOutput;
      try {
        got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        // Deleted between the listing and the read (a live stack's cleanup): it is not at rest.
        if ((error as { name?: string }).name === 'NoSuchKey') continue;
        throw error;
      }
      const bytes = await got.Body?.transformToByteArray();
      out.push({ bucket, key, body: Buffer.from(bytes ?? new Uint8Array()).toString('latin1') });
    }
  }
  return out;
}

export interface StoredItem {
  table: string;
  item: Record<string, AttributeValue>;
  /** The item as JSON, binary attributes as base64 and hex both. */
  text: string;
}

function attributeText(value: unknown): unknown {
  if (value instanceof Uint8Array)
    return `${Buffer.from(value).toString('base64')} ${Buffer.from(value).toString('hex')}`;
  if (value instanceof Set) return [...value].map(attributeText);
  if (Array.isArray(value)) return value.map(attributeText);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, attributeText(v)]));
  return value;
}

/** Every item of every table of the stack (a full Scan of each, paginated). */
export async function dumpTables(dynamo: DynamoDBClient): Promise<StoredItem[]> {
  const out: StoredItem[] = [];
  const tables = (await dynamo.send(new ListTablesCommand({}))).TableNames ?? [];
  for (const table of tables) {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      for (const item of page.Items ?? [])
        out.push({ table, item, text: JSON.stringify(attributeText(item)) });
      start = page.LastEvaluatedKey;
    } while (start);
  }
  return out;
}

/** The spellings of a sha256 digest that would let a dictionary attack read it. */
export function digestSpellings(digest: Buffer): string[] {
  const hex = digest.toString('hex');
  return [hex, hex.toUpperCase(), digest.toString('base64'), digest.toString('base64url')];
}
