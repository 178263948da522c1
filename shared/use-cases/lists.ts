/**
 * Advertiser lists: an upload URL for a hashed list (hashed on the advertiser's machine) or a raw
 * one (hashed here as soon as it lands, then deleted).
 */

import { createNodeIdentifierHasher } from '../adapters/node-sha256.ts';
import { DomainError } from '../domain/errors.ts';
import type { ListRecord } from '../domain/jobs.ts';
import { hashedLines } from '../domain/lists/hashed-lines.ts';
import { type ListState, listStateAt } from '../domain/lists/list-lifetime.ts';
import { createListSummary } from '../domain/lists/list-summary.ts';
import { isListFormatError, type ListFormatErrorReason } from '../domain/lists/parse-list.ts';
import { personHashing } from '../domain/lists/person-hashing.ts';
import {
  DEFAULT_ENCODING,
  type Encoding,
  type IdentifierKind,
  orderedKinds,
  type Profile,
} from '../domain/model.ts';
import { type Principal, requireRole } from '../domain/principal.ts';
import type { ListSummary } from '../domain/result/result-schema.ts';
import { BUCKETS, OBJECT_KEYS } from '../infra/definitions.ts';
import { UPLOAD_URL_SECONDS, type UseCaseContext } from './context.ts';

export interface CreateListInput {
  format: 'hashed' | 'raw';
  profile: Profile;
  kind: IdentifierKind;
  kinds?: IdentifierKind[];
  encoding?: Encoding;
  region?: string;
  column?: string;
  summary?: ListSummary;
}

export interface UploadTicket {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  expiresAt: string;
}

export const LIST_CONTENT_TYPE = 'text/plain; charset=utf-8';

export async function createList(ctx: UseCaseContext, principal: Principal, input: CreateListInput) {
  requireRole(principal, 'advertiser');
  const listId = ctx.newId();
  const now = ctx.now().toISOString();
  const record: ListRecord = {
    kind: 'list',
    tenantId: principal.tenantId,
    listId,
    status: 'AWAITING_UPLOAD',
    format: input.format,
    profile: input.profile,
    identifierKind: input.kind,
    ...(input.kinds ? { kinds: orderedKinds(input.kinds) } : {}),
    encoding: input.encoding ?? DEFAULT_ENCODING[input.profile],
    ...(input.region ? { region: input.region } : {}),
    ...(input.column ? { column: input.column } : {}),
    ...(input.summary ? { summary: input.summary } : {}),
    createdAt: now,
    updatedAt: now,
  };
  await ctx.jobs.create(record);
  const key =
    input.format === 'raw'
      ? OBJECT_KEYS.rawList(principal.tenantId, listId)
      : OBJECT_KEYS.hashedList(principal.tenantId, listId);
  const url = await ctx.objects.presignPut(ctx.buckets.uploads, key, UPLOAD_URL_SECONDS, LIST_CONTENT_TYPE);
  const upload: UploadTicket = {
    url,
    method: 'PUT',
    headers: { 'content-type': LIST_CONTENT_TYPE },
    expiresAt: new Date(ctx.now().getTime() + UPLOAD_URL_SECONDS * 1000).toISOString(),
  };
  return { listId, upload };
}

/** Days a list's upload is kept (the uploads bucket's lifecycle): its lifetime for matching. */
export const LIST_LIFETIME_DAYS = BUCKETS.uploads.expireAfterDays;

export async function getList(
  ctx: UseCaseContext,
  principal: Principal,
  listId: string,
): Promise<Omit<ListRecord, 'status'> & { status: ListState }> {
  requireRole(principal, 'advertiser');
  const list = await ctx.jobs.get('list', principal.tenantId, listId);
  if (!list) throw new DomainError('not-found', 'No such list.');
  return { ...list, status: listStateAt(list, ctx.now(), LIST_LIFETIME_DAYS) };
}

const LIST_FORMAT_DETAILS: Record<ListFormatErrorReason, string> = {
  'unsupported-encoding':
    'The list is not UTF-8 (UTF-16 or another encoding): save it as UTF-8 and upload it again.',
  'invalid-encoding': 'The list has bytes that are not valid UTF-8: save it as UTF-8 and upload it again.',
  'binary-content':
    'The list holds binary content (NUL bytes): upload a text file, one identifier a line or a CSV.',
  'malformed-csv': 'The list is not valid CSV (an unclosed quote): fix the quoting and upload it again.',
  'unknown-column': 'The CSV has no column of the name given: check the column name.',
  'no-identifier-column': 'The CSV header has no known identifier column (email, phone...): name the column.',
  'wrong-kind':
    'The identifier column holds another kind of identifier than the one declared: register the list with the right kind.',
};

/** Reasons whose own text names only header cells (redacted when they look like data), never a value. */
const SAFE_FORMAT_DETAILS: ReadonlySet<ListFormatErrorReason> = new Set([
  'no-identifier-column',
  'wrong-kind',
]);

const RAW_KEY = /^raw\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})$/;

/**
 * A raw list landed (S3 object-created on raw/): hash it server-side with the list's profile,
 * write the hashed list, and delete the raw object at once, whether hashing worked or not.
 */
export async function hashRawList(
  ctx: UseCaseContext,
  objectKey: string,
): Promise<ListRecord['status'] | 'ignored'> {
  const m = RAW_KEY.exec(objectKey);
  try {
    if (!m) {
      ctx.logger.warn('raw list: object key outside the upload layout, deleted');
      return 'ignored';
    }
    const [, tenantId, listId] = m as unknown as [string, string, string];
    const list = await ctx.jobs.get('list', tenantId, listId);
    if (list?.format !== 'raw') {
      ctx.logger.warn('raw list: no raw list record for this upload, deleted', { tenantId, listId });
      return 'ignored';
    }
    // A retried event finds HASHING if the first attempt died mid-way: hashing again is safe (same
    // output) while the raw object is there, and the finally below deletes it either way.
    if (!(await ctx.objects.exists(ctx.buckets.uploads, objectKey))) return 'ignored';
    if (
      !(await ctx.jobs.update('list', tenantId, listId, { status: 'HASHING' }, [
        'AWAITING_UPLOAD',
        'HASHING',
      ]))
    ) {
      return 'ignored';
    }
    try {
      const summary = createListSummary();
      // Every recognised identifier column of a CSV (each kind by its own rules), or the one named;
      // one identifier of the list's kind a line. Only the identifiers survive, hashed: the other
      // columns of a raw CSV never reach storage.
      const hashing = personHashing(
        (kind) =>
          createNodeIdentifierHasher({
            profile: list.profile,
            kind,
            encoding: list.encoding,
            ...(list.region ? { region: list.region as never } : {}),
          }),
        list.column ? list.identifierKind : undefined,
        list.identifierKind,
      );
      const lines = hashedLines(ctx.objects.read(ctx.buckets.uploads, objectKey), {
        summary,
        ...hashing,
        ...(list.column ? { column: list.column } : {}),
      });
      await ctx.objects.write(
        ctx.buckets.uploads,
        OBJECT_KEYS.hashedList(tenantId, listId),
        lines,
        LIST_CONTENT_TYPE,
      );
      const final = summary.snapshot();
      await ctx.jobs.update('list', tenantId, listId, { status: 'READY', summary: final });
      ctx.logger.info('raw list: hashed', { tenantId, listId, rows: final.rows, valid: final.valid });
      return 'READY';
    } catch (error) {
      // A list that cannot be read says why with the format problem itself (binary-content, ...).
      const code = isListFormatError(error)
        ? error.reason
        : error instanceof DomainError
          ? error.code
          : 'hashing-failed';
      // A format error's own text may quote the file's first line (a header, or a row of data):
      // stored details are fixed per reason, so nothing from the list is kept.
      const detail = isListFormatError(error)
        ? SAFE_FORMAT_DETAILS.has(error.reason)
          ? error.detail
          : LIST_FORMAT_DETAILS[error.reason]
        : error instanceof DomainError
          ? error.detail
          : 'The list could not be hashed.';
      ctx.logger.error('raw list: failed', { tenantId, listId, code });
      await ctx.jobs.update('list', tenantId, listId, {
        status: 'FAILED',
        errorCode: code,
        errorDetail: detail,
      });
      return 'FAILED';
    }
  } finally {
    await ctx.objects.delete(ctx.buckets.uploads, objectKey);
  }
}
