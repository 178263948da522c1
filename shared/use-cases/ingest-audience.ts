/**
 * Partner ingest: a members file (a header of identifier columns, `email_sha256`, `phone_sha256`
 * (`sha256` is an email), and `segment_id`; one row a person in a segment) replaces the segments
 * declared when its upload URL was asked for. Every row is validated and counted; accepted members
 * are keyed with the pepper and written as a new version of each segment; the catalog is flipped
 * to the new versions in one conditional write, so a running match sees the old or the new
 * version, never a mix; the replaced versions are swept once no match can still be reading them.
 * The drop is deleted whatever the outcome: partner hashes do not stay at rest.
 */
import {
  countCurrent,
  currentTokens,
  emptyCatalog,
  nextVersion,
  token,
} from '../domain/audiences/membership.ts';
import { DomainError, isDomainError } from '../domain/errors.ts';
import { decodeBase64Digest, decodeHexDigest } from '../domain/identifiers/normalize.ts';
import type { AudienceUploadRecord, IngestReport } from '../domain/jobs.ts';
import { type IdentifierColumn, openList } from '../domain/lists/parse-list.ts';
import {
  type IdentifierKind,
  orderedKinds,
  type PartnerCatalog,
  type Profile,
  type SegmentInfo,
} from '../domain/model.ts';
import type {
  AudienceKeyer,
  AudienceWriter,
  DomainLogger,
  JobStore,
  MemberRecord,
  ObjectStore,
} from '../domain/ports.ts';
import type { CatalogCounts, PublishedCounts } from '../domain/privacy/catalog-release.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';

export interface IngestDeps {
  jobs: JobStore;
  audiences: AudienceWriter;
  objects: ObjectStore;
  /** The keyer of a pepper key id; the current key when none is given. */
  keyer(keyId?: string): Promise<AudienceKeyer>;
  buckets: { partnerDrops: string; results: string };
  logger: DomainLogger;
  maxRows: number;
  retireGraceSeconds: number;
  now?: () => Date;
  lockTtlSeconds?: number;
  /** How long to wait for another ingest of the same partner to finish. */
  lockWaitMs?: number;
  /**
   * Publishes the sizes of a new catalog version: noisy, charged to the partner's catalog budget
   * once per upload (`chargeId`), or withheld when that budget is spent.
   */
  publishSizes(partnerId: string, chargeId: string, counts: CatalogCounts): Promise<PublishedCounts>;
}

/** An ingest rejecting more than this share of its rows fails, unless its upload allows more. */
export const DEFAULT_MAX_REJECTED_SHARE = 0.1;

/** A file refused by the gate: nothing changed; its report says why. */
class IngestRefused extends DomainError {
  constructor(
    detail: string,
    readonly report: IngestReport,
  ) {
    super('ingest-rejected', detail);
  }
}

/** Row numbers kept per rejection rule, so a partner can find and fix rows without a huge report. */
const SAMPLE_ROWS = 20;
/** Members read and written per step: bounded memory and request sizes. */
const CHUNK = 1_000;

const DROP_KEY = /^audiences\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.csv$/;

export function parseDropKey(key: string): { partnerId: string; audienceId: string } | undefined {
  const m = DROP_KEY.exec(key);
  return m ? { partnerId: m[1] as string, audienceId: m[2] as string } : undefined;
}

/** Hash format per profile: hex for basic and google; uid2 also takes its native base64. */
export function decodeMemberHash(value: string, profile: Profile): Uint8Array | undefined {
  const v = value.trim();
  if (v.length === 64) return decodeHexDigest(v);
  if (profile === 'uid2' && v.length === 44) return decodeBase64Digest(v);
  return undefined;
}

class RuleCounter {
  readonly byRule: IngestReport['rejectedByRule'] = {};
  total = 0;
  reject(rule: string, row: number) {
    const entry = this.byRule[rule] ?? { count: 0, rows: [] };
    this.byRule[rule] = entry;
    entry.count++;
    if (entry.rows.length < SAMPLE_ROWS) entry.rows.push(row);
    this.total++;
  }
}

export async function ingestAudience(
  deps: IngestDeps,
  objectKey: string,
): Promise<AudienceUploadRecord['status'] | 'ignored'> {
  const now = deps.now ?? (() => new Date());
  const ids = parseDropKey(objectKey);
  if (!ids) {
    // The key itself is not logged: a hand-made key could hold anything, an email included.
    deps.logger.warn('ingest: object key outside the drop layout, deleted');
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }
  const { partnerId, audienceId } = ids;
  const upload = await deps.jobs.get('audience', partnerId, audienceId);
  if (!upload) {
    deps.logger.warn('ingest: no upload record for this drop, deleted', { partnerId, audienceId });
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }
  const started = await deps.jobs.update('audience', partnerId, audienceId, { status: 'INGESTING' }, [
    'AWAITING_UPLOAD',
    'INGESTING',
  ]);
  if (!started) {
    // A drop PUT again after its ingest ended: partner hashes do not stay at rest either way.
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }

  const owner = `${audienceId}-${now().getTime()}`;
  const locked = await waitForLock(deps, partnerId, owner);
  try {
    if (!locked) {
      throw new DomainError(
        'conflict',
        'Another ingest for this partner is still running; upload again later.',
      );
    }
    if (!(await deps.objects.exists(deps.buckets.partnerDrops, objectKey))) return 'ignored';
    const report = await ingestLocked(deps, upload, objectKey, now);
    await deps.jobs.update('audience', partnerId, audienceId, { status: 'SUCCEEDED', report });
    deps.logger.info('ingest: succeeded', {
      partnerId,
      audienceId,
      rowsRead: report.rowsRead,
      accepted: report.accepted,
      rejected: report.rejected,
    });
    return 'SUCCEEDED';
  } catch (error) {
    const code = isDomainError(error) ? error.code : 'ingest-failed';
    const detail = isDomainError(error)
      ? error.detail
      : 'The file could not be ingested; nothing was changed.';
    deps.logger.error('ingest: failed', {
      partnerId,
      audienceId,
      code,
      error: isDomainError(error) ? undefined : error instanceof Error ? error.name : 'unknown',
    });
    await deps.jobs.update('audience', partnerId, audienceId, {
      status: 'FAILED',
      errorCode: code,
      errorDetail: detail,
      // A refused file keeps its report: the rows and rules to fix.
      ...(error instanceof IngestRefused ? { report: error.report } : {}),
    });
    return 'FAILED';
  } finally {
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    if (locked) await deps.audiences.releaseLock(partnerId, owner);
  }
}

export async function waitForLock(deps: IngestDeps, partnerId: string, owner: string): Promise<boolean> {
  const deadline = Date.now() + (deps.lockWaitMs ?? 60_000);
  for (let delay = 50; ; delay = Math.min(delay * 2, 2_000)) {
    if (await deps.audiences.acquireLock(partnerId, owner, deps.lockTtlSeconds ?? 900)) return true;
    if (Date.now() + delay > deadline) return false;
    await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
  }
}

async function ingestLocked(
  deps: IngestDeps,
  upload: AudienceUploadRecord,
  objectKey: string,
  now: () => Date,
): Promise<IngestReport> {
  const partnerId = upload.tenantId;
  const stored = await deps.audiences.readCatalog(partnerId);
  if (stored && stored.profile !== upload.profile) {
    throw new DomainError(
      'invalid-input',
      `This partner's audiences are hashed with the ${stored.profile} profile; the upload declared ${upload.profile}.`,
    );
  }
  const keyer = await deps.keyer(stored?.keyId);
  const catalog = stored ?? emptyCatalog(partnerId, upload.profile, keyer.keyId);
  const declared = new Map(upload.segments.map((s) => [s.segmentId, s]));

  // 1. Read and validate every row; group accepted rows by partner person. A row is one person in
  // one segment, with one or several identifier columns (email_sha256, phone_sha256; `sha256` is an
  // email). Its person key is the keyed value of its first non-empty identifier in kind order, so
  // every row of a person, and every re-ingest, agrees on it.
  const rules = new RuleCounter();
  const people = new Map<string, { ids: Map<string, IdentifierKind>; segments: Set<string> }>();
  let rowsRead = 0;
  let accepted = 0;
  let duplicates = 0;
  const opened = await openList(deps.objects.read(deps.buckets.partnerDrops, objectKey), {
    mode: 'csv',
    classify: () => ({ ok: false, reason: 'invalid-hash' }),
    classifyAs: () => (raw) => {
      const digest = decodeMemberHash(raw, upload.profile);
      return digest
        ? { ok: true, key: keyer.key(digest), output: '' }
        : { ok: false, reason: 'invalid-hash' };
    },
  });
  const header = opened.layout.header ?? [];
  const columns = opened.layout.columns;
  const raw = columns.filter((c) => !c.hashed).map((c) => c.name);
  if (raw.length > 0) {
    throw new DomainError(
      'invalid-input',
      `The members file must hold hashes (email_sha256, phone_sha256), not raw identifiers: hash the column(s) ${raw.map((n) => `"${n}"`).join(', ')} with \`onboard hash --profile ${upload.profile}\` first.`,
    );
  }
  const segmentColumn = header.findIndex(
    (h) =>
      h
        .trim()
        .toLowerCase()
        .replace(/[^a-z]/g, '') === 'segmentid',
  );
  if (segmentColumn < 0) {
    throw new DomainError(
      'invalid-input',
      'The header must name a segment_id column beside the identifier columns (email_sha256, phone_sha256).',
    );
  }
  for await (const batch of opened.batches) {
    for (const row of batch) {
      rowsRead++;
      if (rowsRead > deps.maxRows) {
        throw new DomainError(
          'invalid-input',
          `The file has more than ${deps.maxRows} rows; split it by segment.`,
        );
      }
      if (!row.outcome.ok) {
        rules.reject(row.outcome.reason, row.rowNumber);
        continue;
      }
      // A row with an unreadable identifier is refused whole: its person key would otherwise
      // depend on which of its identifiers happen to be readable.
      const bad = row.cells?.find((c) => !c.ok && c.reason !== 'empty');
      if (bad && !bad.ok) {
        rules.reject(bad.reason, row.rowNumber);
        continue;
      }
      const segmentId = row.fields?.[segmentColumn]?.trim() ?? '';
      if (segmentId === '') {
        rules.reject('missing-segment', row.rowNumber);
        continue;
      }
      if (!declared.has(segmentId)) {
        rules.reject('unknown-segment', row.rowNumber);
        continue;
      }
      const personKey = row.outcome.key;
      const person = people.get(personKey) ?? { ids: new Map(), segments: new Set<string>() };
      people.set(personKey, person);
      row.cells?.forEach((cell, i) => {
        if (cell.ok) person.ids.set(cell.key, (columns[i] as IdentifierColumn).kind);
      });
      if (person.segments.has(segmentId)) duplicates++;
      else {
        person.segments.add(segmentId);
        accepted++;
      }
    }
  }
  // Every identifier of the upload, with its kind and the people it identifies (usually one; a
  // shared identifier, such as a household phone, identifies each of them).
  const owners = new Map<string, { kind: IdentifierKind; people: string[] }>();
  const sizes = new Map<string, number>();
  const kindsOf = new Map<string, Set<IdentifierKind>>();
  const manifests = new Map<string, string[]>([...declared.keys()].map((id) => [id, []]));
  for (const [personKey, person] of people) {
    for (const [key, kind] of person.ids) {
      const owner = owners.get(key) ?? { kind, people: [] };
      owners.set(key, owner);
      owner.people.push(personKey);
    }
    for (const segmentId of person.segments) {
      sizes.set(segmentId, (sizes.get(segmentId) ?? 0) + 1);
      const kinds = kindsOf.get(segmentId) ?? new Set<IdentifierKind>();
      kindsOf.set(segmentId, kinds);
      for (const [key, kind] of person.ids) {
        kinds.add(kind);
        manifests.get(segmentId)?.push(key);
      }
    }
  }

  // The gate, before anything is written: a file that accepts nothing, or rejects more than its
  // upload allows, fails with its report and leaves the live version untouched; a dry run stops
  // here with the report.
  const counted: IngestReport = {
    rowsRead,
    accepted,
    rejected: rules.total,
    rejectedByRule: rules.byRule,
    duplicates,
    segments: [...declared.keys()].map((id) => ({ segmentId: id, members: sizes.get(id) ?? 0, version: 0 })),
  };
  const allowed = upload.maxRejectedShare ?? DEFAULT_MAX_REJECTED_SHARE;
  if (accepted === 0) {
    throw new IngestRefused(
      `No row of the file was accepted (${rowsRead} read, ${rules.total} rejected); the segments keep their current members. The report lists the rules.`,
      counted,
    );
  }
  if (rowsRead > 0 && rules.total / rowsRead > allowed) {
    throw new IngestRefused(
      `${rules.total} of ${rowsRead} rows were rejected (${((rules.total / rowsRead) * 100).toFixed(1)} %), more than the ${(allowed * 100).toFixed(1)} % this upload allows; the segments keep their current members. Fix the rows the report names, or declare a higher maxRejectedShare.`,
      counted,
    );
  }
  if (upload.dryRun) return { ...counted, dryRun: true };

  // 2. New versions for every declared segment; touched = the upload's identifiers and those of
  // the replaced versions.
  const nowMs = now().getTime();
  const oldBySegment = new Map(catalog.segments.map((s) => [s.segmentId, s]));
  const versions = new Map<string, number>();
  for (const id of declared.keys()) versions.set(id, nextVersion(oldBySegment.get(id)?.version, nowMs));
  const retiredNow = catalog.segments.filter((s) => declared.has(s.segmentId));
  const touched = new Set(owners.keys());
  for (const old of retiredNow) {
    for (const key of await readManifest(deps, partnerId, catalog.keyId, old.segmentId, old.version))
      touched.add(key);
  }

  const oldCurrent = currentTokens(catalog.segments);
  const newSegments: SegmentInfo[] = [
    ...catalog.segments.filter((s) => !declared.has(s.segmentId)),
    ...[...declared.values()].map((d) => ({
      segmentId: d.segmentId,
      name: d.name,
      description: d.description,
      size: 0,
      version: versions.get(d.segmentId) as number,
      kinds: orderedKinds(kindsOf.get(d.segmentId) ?? []),
    })),
  ];
  const newCurrent = currentTokens(newSegments);
  // Tokens still worth keeping: current before or after the flip, or retired and awaiting their sweep.
  const live = new Set([
    ...oldCurrent,
    ...newCurrent,
    ...catalog.retired.map((r) => token(r.segmentId, r.version)),
  ]);

  // 3. Write the new versions' tokens beside the old ones; readers ignore them until the flip.
  // Per touched person: whether it was in the base before, and its current segments after.
  const before = new Map<string, boolean>();
  const after = new Map<string, Set<string>>();
  const touchedKeys = [...touched];
  for (let i = 0; i < touchedKeys.length; i += CHUNK) {
    const chunk = touchedKeys.slice(i, i + CHUNK);
    // A partner's first ingest has nobody to merge with: items left by a failed attempt hold only
    // tokens of versions never made current, so they may be overwritten unread.
    const existing = stored
      ? await deps.audiences.readMembers(partnerId, catalog.keyId, chunk)
      : new Map<string, MemberRecord>();
    const writes: MemberRecord[] = [];
    for (const key of chunk) {
      const had = existing.get(key);
      const owner = owners.get(key);
      const tokensOf = new Map<string, Set<string>>();
      let dropped = false;
      for (const p of had?.people ?? []) {
        before.set(p.person, (before.get(p.person) ?? false) || countCurrent(p.tokens, oldCurrent) > 0);
        const kept = p.tokens.filter((t) => live.has(t));
        dropped ||= kept.length !== p.tokens.length;
        tokensOf.set(p.person, new Set(kept));
      }
      for (const personKey of owner?.people ?? []) {
        const tokens = tokensOf.get(personKey) ?? new Set<string>();
        tokensOf.set(personKey, tokens);
        for (const segmentId of people.get(personKey)?.segments ?? [])
          tokens.add(token(segmentId, versions.get(segmentId) as number));
      }
      for (const [personKey, tokens] of tokensOf) {
        const current = after.get(personKey) ?? new Set<string>();
        after.set(personKey, current);
        for (const t of tokens) if (newCurrent.has(t)) current.add(t);
      }
      if (owner || dropped) {
        // The item of a person's own key links that person's other identifiers (for erasure).
        const links = new Set(had?.links ?? []);
        for (const other of people.get(key)?.ids.keys() ?? []) if (other !== key) links.add(other);
        writes.push({
          key,
          kind: owner?.kind ?? had?.kind ?? 'email',
          people: [...tokensOf].map(([person, tokens]) => ({ person, tokens: [...tokens] })),
          ...(links.size > 0 ? { links: [...links] } : {}),
        });
      }
    }
    await deps.audiences.writeMembers(partnerId, catalog.keyId, writes);
  }
  let baseDelta = 0;
  let maxSegments = 0;
  for (const personKey of new Set([...before.keys(), ...after.keys()])) {
    const count = after.get(personKey)?.size ?? 0;
    baseDelta += (count > 0 ? 1 : 0) - (before.get(personKey) ? 1 : 0);
    maxSegments = Math.max(maxSegments, count);
  }
  for (const [segmentId, keys] of manifests) {
    await deps.objects.write(
      deps.buckets.results,
      OBJECT_KEYS.manifest(partnerId, catalog.keyId, segmentId, versions.get(segmentId) as number),
      [...new Set(keys)].join('\n'),
      'text/plain',
    );
  }

  // 4. Publish the new versions' sizes (noisy, once), then flip: one conditional write makes every
  // new version current at once.
  const baseSize = catalog.baseSize + baseDelta;
  const published = await deps.publishSizes(partnerId, upload.audienceId, {
    segments: new Map([...declared.keys()].map((id) => [id, sizes.get(id) ?? 0])),
    base: baseSize,
  });
  const flipped: PartnerCatalog = {
    ...catalog,
    segments: newSegments.map((s) =>
      declared.has(s.segmentId)
        ? {
            ...s,
            size: sizes.get(s.segmentId) ?? 0,
            publishedSize: published.segments.get(s.segmentId) ?? null,
          }
        : s,
    ),
    baseSize,
    publishedBaseSize: published.base,
    maxSegmentsPerMember: Math.max(catalog.maxSegmentsPerMember, maxSegments),
    revision: catalog.revision + 1,
    retired: [
      ...catalog.retired,
      ...retiredNow.map((s) => ({
        segmentId: s.segmentId,
        version: s.version,
        retiredAt: now().toISOString(),
      })),
    ],
    updatedAt: now().toISOString(),
  };
  if (!(await deps.audiences.writeCatalog(flipped, catalog.revision))) {
    throw new DomainError(
      'conflict',
      'The catalog changed during the ingest; nothing was released. Upload again.',
    );
  }
  await deps.audiences.registerPartner(partnerId);

  // 5. Sweep versions retired long enough ago that no running match can still read them.
  await sweepRetired(deps, partnerId, now);

  return {
    rowsRead,
    accepted,
    rejected: rules.total,
    rejectedByRule: rules.byRule,
    duplicates,
    segments: [...declared.keys()].map((id) => ({
      segmentId: id,
      members: sizes.get(id) ?? 0,
      version: versions.get(id) as number,
    })),
  };
}

export async function readManifest(
  deps: Pick<IngestDeps, 'objects' | 'buckets'>,
  partnerId: string,
  keyId: string,
  segmentId: string,
  version: number,
): Promise<string[]> {
  const text = await deps.objects.readText(
    deps.buckets.results,
    OBJECT_KEYS.manifest(partnerId, keyId, segmentId, version),
  );
  return text ? text.split('\n').filter((k) => k.length > 0) : [];
}

/**
 * Removes the tokens of versions retired more than the grace period ago, then forgets them.
 * Runs under the partner's ingest lock (at the end of each ingest).
 */
export async function sweepRetired(deps: IngestDeps, partnerId: string, now: () => Date): Promise<number> {
  const catalog = await deps.audiences.readCatalog(partnerId);
  if (!catalog) return 0;
  const cutoff = now().getTime() - deps.retireGraceSeconds * 1000;
  const due = catalog.retired.filter((r) => Date.parse(r.retiredAt) <= cutoff);
  const dueKeys = (catalog.retiredKeys ?? []).filter((r) => Date.parse(r.retiredAt) <= cutoff);
  if (due.length === 0 && dueKeys.length === 0) return 0;
  const dueTokens = new Set(due.map((r) => token(r.segmentId, r.version)));
  let swept = 0;
  for (const r of due) {
    const keys = await readManifest(deps, partnerId, catalog.keyId, r.segmentId, r.version);
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      const existing = await deps.audiences.readMembers(partnerId, catalog.keyId, chunk);
      const writes: MemberRecord[] = [];
      for (const record of existing.values()) {
        let changed = false;
        const kept = record.people.map(({ person, tokens }) => {
          const left = tokens.filter((t) => !dueTokens.has(t));
          changed ||= left.length !== tokens.length;
          return { person, tokens: left };
        });
        if (changed) writes.push({ ...record, people: kept });
      }
      await deps.audiences.writeMembers(partnerId, catalog.keyId, writes);
      swept += writes.length;
    }
  }
  // Members keyed under a rotated-out key id: every item goes, then the key's manifests.
  for (const rk of dueKeys) {
    for (const m of rk.manifests) {
      const keys = await readManifest(deps, partnerId, rk.keyId, m.segmentId, m.version);
      for (let i = 0; i < keys.length; i += CHUNK) {
        const chunk = keys.slice(i, i + CHUNK);
        await deps.audiences.writeMembers(
          partnerId,
          rk.keyId,
          chunk.map((key) => ({ key, kind: 'email' as const, people: [] })),
        );
        swept += chunk.length;
      }
    }
  }
  const updated: PartnerCatalog = {
    ...catalog,
    retired: catalog.retired.filter((r) => !dueTokens.has(token(r.segmentId, r.version))),
    retiredKeys: (catalog.retiredKeys ?? []).filter((r) => !dueKeys.includes(r)),
    revision: catalog.revision + 1,
    updatedAt: now().toISOString(),
  };
  if (await deps.audiences.writeCatalog(updated, catalog.revision)) {
    for (const r of due) {
      await deps.objects.delete(
        deps.buckets.results,
        OBJECT_KEYS.manifest(partnerId, catalog.keyId, r.segmentId, r.version),
      );
    }
    for (const rk of dueKeys) {
      for (const m of rk.manifests) {
        await deps.objects.delete(
          deps.buckets.results,
          OBJECT_KEYS.manifest(partnerId, rk.keyId, m.segmentId, m.version),
        );
      }
    }
  }
  return swept;
}
