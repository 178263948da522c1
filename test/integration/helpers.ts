/**
 * Shared helpers of the integration tests: one embedded stack per test file (s3rver and dynalite
 * on free loopback ports, the real handlers and AWS SDK clients), a raw HTTP helper, partner
 * seeding, an exact-count scenario builder, a response recorder and a stdout/stderr capture.
 */

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { ApiClient } from '../../cli/api-client.ts';
import {
  type IngestReportView,
  type MatchView,
  type SegmentDeclaration,
  uploadPartnerAudience,
} from '../../cli/flows.ts';
import { type EmbeddedInfra, startEmbeddedInfra } from '../../local/embedded-infra.ts';
import type { EmbeddedStack } from '../../local/embedded-stack.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import type { ObjectStore } from '../../shared/domain/ports.ts';
import type { Role } from '../../shared/domain/principal.ts';
import type { UseCaseContext } from '../../shared/use-cases/context.ts';

// ---------------------------------------------------------------------------------------------
// Stack

export interface TestStack {
  stack: EmbeddedStack;
  dataDir: string;
  /** An API client (the CLI's own) acting as a tenant with a role. */
  client(tenantId: string, role: Role): ApiClient;
  token(tenantId: string, role: Role): string;
  /** An S3 client on the stack's s3rver (path style, dummy credentials). */
  s3(): S3Client;
  stop(): Promise<void>;
}

/**
 * Starts the embedded stack in-process, ephemeral, in a fresh temporary data directory.
 * `env` is the functions' environment (privacy settings, shard count...).
 */
export async function startTestStack(env: Record<string, string> = {}): Promise<TestStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'onboard-it-'));
  // Imported lazily so a test file can set process.env (e.g. POWERTOOLS_LOG_LEVEL) before the
  // service's modules (and its Logger) are loaded.
  const { startEmbeddedStack } = await import('../../local/embedded-stack.ts');
  const stack = await startEmbeddedStack({
    dataDir,
    ephemeral: true,
    env: { SHARD_COUNT: '4', POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN', ...env },
  });
  let s3: S3Client | undefined;
  return {
    stack,
    dataDir,
    client: (tenantId, role) => new ApiClient(stack.apiUrl, stack.token(tenantId, role)),
    token: (tenantId, role) => stack.token(tenantId, role),
    s3: () =>
      (s3 ??= new S3Client({
        region: 'us-east-1',
        endpoint: stack.env.AWS_ENDPOINT_URL_S3,
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      })),
    async stop() {
      s3?.destroy();
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A stack for driving a partner ingest through its own seams (issue #9's tests): noise off, small
 * minimums, 4 shards, and a use-case context whose partner drops bucket is the results bucket:
 * no upload trigger there, so no S3 event races the test's own ingest.
 */
export async function startIngestStack(): Promise<{ stack: TestStack; ctx: UseCaseContext }> {
  const stack = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: '20',
    SHARD_COUNT: '4',
  });
  const { useCaseContext } = await import('../../shared/adapters/runtime.ts');
  const real = useCaseContext();
  return { stack, ctx: { ...real, buckets: { ...real.buckets, partnerDrops: real.buckets.results } } };
}

/** Keys under a prefix of one of the stack's buckets (by its env name, e.g. UPLOADS_BUCKET). */
export async function listKeys(t: TestStack, bucketEnv: string, prefix = ''): Promise<string[]> {
  const out = await t.s3().send(new ListObjectsV2Command({ Bucket: t.stack.env[bucketEnv], Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

/** One object's body as text. */
export async function readObject(t: TestStack, bucketEnv: string, key: string): Promise<string> {
  const out = await t.s3().send(new GetObjectCommand({ Bucket: t.stack.env[bucketEnv], Key: key }));
  return (await out.Body?.transformToString()) ?? '';
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

export interface RawResponse {
  status: number;
  contentType: string;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  json: any;
}

/** One request to the API with full control over headers and body. */
export async function http(
  t: TestStack,
  method: string,
  path: string,
  options: {
    token?: string;
    body?: unknown;
    rawBody?: string | Uint8Array;
    headers?: Record<string, string>;
  } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | Uint8Array | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(new URL(path, t.stack.apiUrl), {
    method,
    headers,
    ...(body !== undefined ? { body: body as BodyInit } : {}),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    headers: response.headers,
    text,
    json,
  };
}

/** PUTs bytes to a presigned upload ticket, as a client would. */
export async function putTo(
  ticket: { url: string; headers: Record<string, string> },
  body: string | Uint8Array,
): Promise<number> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const response = await fetch(ticket.url, {
    method: 'PUT',
    headers: { ...ticket.headers, 'content-length': String(bytes.length) },
    body: bytes as BodyInit,
  });
  await response.arrayBuffer();
  return response.status;
}

// ---------------------------------------------------------------------------------------------
// Identifiers

export const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');
export const sha256Base64 = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64');

/** The partner-side hash of person n: sha256 hex of the google-normalized email. */
export const memberHash = (n: number) => sha256Hex(personEmail(n));

// ---------------------------------------------------------------------------------------------
// Partner seeding

export interface SeedSegment extends SegmentDeclaration {
  /** The people (personEmail numbers) in the segment. */
  people: readonly number[];
}

/** The `sha256,segment_id` members file of some segments (plus optional extra raw lines). */
export function partnerCsv(segments: readonly SeedSegment[], extraLines: readonly string[] = []): string {
  const rows = ['sha256,segment_id'];
  for (const s of segments) for (const n of s.people) rows.push(`${memberHash(n)},${s.segmentId}`);
  rows.push(...extraLines);
  return `${rows.join('\n')}\n`;
}

/** Declares the segments, uploads their members, waits for the ingest report (SUCCEEDED expected). */
export async function seedPartner(
  client: ApiClient,
  partnerId: string,
  segments: readonly SeedSegment[],
  options: { profile?: 'basic' | 'google' | 'uid2'; extraLines?: readonly string[] } = {},
): Promise<IngestReportView> {
  return uploadPartnerAudience(client, {
    partnerId,
    profile: options.profile ?? 'google',
    segments: segments.map(({ segmentId, name, description }) => ({
      segmentId,
      name,
      description: description ?? '',
    })),
    source: { text: partnerCsv(segments, options.extraLines) },
  });
}

/** Every member hash of some segments (hex). */
export function memberHashes(segments: readonly SeedSegment[]): Set<string> {
  const out = new Set<string>();
  for (const s of segments) for (const n of s.people) out.add(memberHash(n));
  return out;
}

export const range = (start: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => start + i);

// ---------------------------------------------------------------------------------------------
// Exact-count scenarios

export interface ScenarioSegmentSpec {
  segmentId: string;
  name?: string;
  /** How many people of the list are in the segment. */
  listMatches: number;
  /** How many partner members outside the list are in it. */
  others?: number;
}

export interface Scenario {
  /** The list: one canonical email a line (people `base` .. `base + listSize - 1`). */
  listText: string;
  listPeople: number[];
  segments: SeedSegment[];
  /** True matched count per segment. */
  expected: Record<string, number>;
  /** True matched total (people of the list in at least one segment). */
  expectedTotal: number;
}

/**
 * A partner whose segments hold exactly the requested number of list members, disjoint (each
 * list person in at most one segment), so every count is known in advance. People numbers start
 * at `base` (list) and `base + 1_000_000` (partner members outside the list): use a different base
 * per scenario to keep scenarios apart.
 */
export function exactCountScenario(options: {
  base?: number;
  listSize: number;
  segments: readonly ScenarioSegmentSpec[];
}): Scenario {
  const base = options.base ?? 0;
  const needed = options.segments.reduce((s, x) => s + x.listMatches, 0);
  if (needed > options.listSize) throw new Error('scenario: more matches than list people');
  const listPeople = range(base, options.listSize);
  let nextList = 0;
  let nextOther = base + 1_000_000;
  const expected: Record<string, number> = {};
  const segments: SeedSegment[] = options.segments.map((spec) => {
    const people = [
      ...listPeople.slice(nextList, nextList + spec.listMatches),
      ...range(nextOther, spec.others ?? 50),
    ];
    nextList += spec.listMatches;
    nextOther += spec.others ?? 50;
    expected[spec.segmentId] = spec.listMatches;
    return {
      segmentId: spec.segmentId,
      name: spec.name ?? spec.segmentId,
      description: `${spec.segmentId} (test)`,
      people,
    };
  });
  return {
    listText: `${listPeople.map(personEmail).join('\n')}\n`,
    listPeople,
    segments,
    expected,
    expectedTotal: needed,
  };
}

/** The segments of a result by id. */
export function bySegment(
  match: MatchView,
): Record<string, NonNullable<MatchView['result']>['segments'][number]> {
  return Object.fromEntries((match.result?.segments ?? []).map((s) => [s.segmentId, s]));
}

// ---------------------------------------------------------------------------------------------
// Response recorder

export interface RecordedResponse {
  method: string;
  url: string;
  status: number;
  body: string;
}

/**
 * Wraps the global fetch (which the CLI's ApiClient and the helpers above use) and records every
 * response body, to scan what left the service.
 */
export function recordResponses(): { responses: RecordedResponse[]; restore(): void } {
  const original = globalThis.fetch;
  const responses: RecordedResponse[] = [];
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await original(input, init);
    const body = await response.clone().text();
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    responses.push({ method: init?.method ?? 'GET', url, status: response.status, body });
    return response;
  };
  return {
    responses,
    restore: () => {
      globalThis.fetch = original;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Output capture

export interface OutputCapture {
  /** Everything written so far to stdout and stderr. */
  text(): string;
  restore(): void;
}

/**
 * Intercepts process.stdout.write and process.stderr.write: the Powertools logger writes through
 * a Console on these streams, and the shard worker threads' output is forwarded through them.
 * By default nothing is passed through (DEBUG logs would flood the test output).
 */
export function captureOutput(options: { passThrough?: boolean } = {}): OutputCapture {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const originals = streams.map((s) => s.write);
  streams.forEach((stream, i) => {
    const original = originals[i] as typeof stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      if (options.passThrough) return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (callback) queueMicrotask(callback);
      return true;
    } as typeof stream.write;
  });
  return {
    text: () => chunks.join(''),
    restore: () =>
      streams.forEach((stream, i) => {
        stream.write = originals[i] as typeof stream.write;
      }),
  };
}

/** Every 64-hex run and every 44-character base64 run (a sha256 digest) in a text. */
export function digestLikeStrings(text: string): { hex: string[]; base64: string[] } {
  return {
    hex: [...text.matchAll(/(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])/g)].map((m) => m[0].toLowerCase()),
    base64: [...text.matchAll(/(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])/g)].map((m) => m[0]),
  };
}

// ---------------------------------------------------------------------------------------------
// Storage only

/** dynalite and s3rver with the tables and buckets, and a DynamoDB client on them (no handlers). */
export async function startStorage(
  name: string,
): Promise<{ infra: EmbeddedInfra; dynamodb: DynamoDBClient; stop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), `${name}-`));
  const infra = await startEmbeddedInfra({ dataDir, inMemory: true, resetOnClose: true });
  const dynamodb = new DynamoDBClient({
    endpoint: infra.dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
  });
  return {
    infra,
    dynamodb,
    async stop() {
      dynamodb.destroy();
      await infra.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Objects under a prefix of a bucket, with their contents (base64): what a step left, to compare. */
export async function objectsUnder(
  objects: ObjectStore,
  bucket: string,
  prefix: string,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await objects.list(bucket, prefix)) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of objects.read(bucket, key)) chunks.push(chunk);
    out[key] = Buffer.concat(chunks).toString('base64');
  }
  return out;
}
