/**
 * What a partner deletes: people (an opt-out or an erasure request under GDPR/CCPA, by any of
 * their identifiers) and whole segments. Both run under the partner's ingest lock, so they never
 * interleave with an ingest, a sweep or a re-keying.
 *
 * Erasing people: each identifier given (a SHA-256 digest, hashed like the partner's members) is
 * keyed like the table; the people it identifies (usually one; a household phone, each person who
 * gave it) are removed from every segment, together with every other identifier of theirs (the
 * links kept on their own item), under the current key and under a rotated-out key not yet swept.
 * Items left without anyone are deleted and their keyed values taken out of the segment manifests,
 * so no table and no bucket keeps them. Sizes the service counts with are lowered at once; the
 * published (noisy) sizes stay as published until the segment's next upload: they are differential
 * privacy releases, not personal data, and republishing would spend catalog budget.
 *
 * Deleting a segment: the segment leaves the catalog at once (no new match sees it) and its version
 * is retired, so its members' tokens and its manifest are swept once no running match can still
 * read them, as for a replaced version.
 *
 * Neither refills a privacy budget nor changes an earlier release (docs/privacy.md, "Deletion").
 */
import { currentTokens, parseToken, token } from '../domain/audiences/membership.ts';
import { DomainError } from '../domain/errors.ts';
import type { IdentifierKind, PartnerCatalog } from '../domain/model.ts';
import type { MemberRecord } from '../domain/ports.ts';
import { type Principal, requirePartnerAccess } from '../domain/principal.ts';
import type { UseCaseContext } from './context.ts';
import { auditDeletion } from './deletion.ts';
import {
  decodeMemberHash,
  type IngestDeps,
  pruneManifest,
  readManifest,
  sweepRetired,
  waitForLock,
} from './ingest-audience.ts';
import { ingestDeps } from './partners.ts';

/** Identifiers one request may name: bounded work and request size (the CLI sends batches). */
export const MAX_ERASURE_IDENTIFIERS = 1_000;
/** Reads and writes per step. */
const CHUNK = 1_000;

export interface ErasureInput {
  email_sha256?: readonly string[];
  phone_sha256?: readonly string[];
}

export interface ErasureOutcome {
  erasureId: string;
  partnerId: string;
  /** Distinct identifiers named. */
  identifiers: number;
  /** Of those, how many the partner's audience held. */
  found: number;
  /** Partner people removed from every segment. */
  people: number;
  /** Identifier items deleted (the people's identifiers nobody else holds). */
  identifiersRemoved: number;
}

/** Parses the request's digests, naming the first bad one by its field and position. */
function digestsOf(input: ErasureInput, profile: PartnerCatalog['profile']) {
  const out = new Map<string, { kind: IdentifierKind; digest: Uint8Array }>();
  const fields: ReadonlyArray<[keyof ErasureInput, IdentifierKind]> = [
    ['email_sha256', 'email'],
    ['phone_sha256', 'phone'],
  ];
  for (const [field, kind] of fields) {
    (input[field] ?? []).forEach((value, i) => {
      const digest = decodeMemberHash(value, profile);
      if (!digest) {
        throw new DomainError(
          'invalid-input',
          `${field}[${i}] is not a SHA-256 digest (64 hex characters${profile === 'uid2' ? ', or 44 base64' : ''}): hash identifiers with \`onboard hash --profile ${profile}\`, or give them raw to \`onboard partner erase\`, which hashes them locally.`,
        );
      }
      out.set(Buffer.from(digest).toString('hex'), { kind, digest });
    });
  }
  if (out.size === 0) throw new DomainError('invalid-input', 'Name at least one identifier to erase.');
  if (out.size > MAX_ERASURE_IDENTIFIERS) {
    throw new DomainError(
      'invalid-input',
      `At most ${MAX_ERASURE_IDENTIFIERS} identifiers a request; send the rest in further requests.`,
    );
  }
  return [...out.values()];
}

async function withPartnerLock<T>(
  deps: IngestDeps,
  partnerId: string,
  owner: string,
  work: () => Promise<T>,
): Promise<T> {
  if (!(await waitForLock(deps, partnerId, owner))) {
    throw new DomainError(
      'conflict',
      'An ingest for this partner is still running; try again once it has finished.',
    );
  }
  try {
    return await work();
  } finally {
    await deps.audiences.releaseLock(partnerId, owner);
  }
}

async function readAll(deps: IngestDeps, partnerId: string, keyId: string, keys: Iterable<string>) {
  const all = [...keys];
  const out = new Map<string, MemberRecord>();
  for (let i = 0; i < all.length; i += CHUNK) {
    for (const [key, record] of await deps.audiences.readMembers(partnerId, keyId, all.slice(i, i + CHUNK)))
      out.set(key, record);
  }
  return out;
}

/**
 * Removes the people `keys` identify from the items of one key id: returns the people erased, the
 * items deleted, and each erased person's tokens (for the sizes).
 */
async function eraseUnderKey(deps: IngestDeps, partnerId: string, keyId: string, keys: readonly string[]) {
  const named = await readAll(deps, partnerId, keyId, keys);
  const erased = new Set<string>();
  for (const record of named.values()) for (const p of record.people) erased.add(p.person);
  // Each erased person's own item holds the links to its other identifiers.
  const records = new Map(named);
  const readMissing = async (keys: Iterable<string>) => {
    const missing = [...keys].filter((k) => !records.has(k));
    for (const [key, record] of await readAll(deps, partnerId, keyId, missing)) records.set(key, record);
  };
  await readMissing(erased);
  await readMissing([...erased].flatMap((person) => records.get(person)?.links ?? []));

  const tokensOf = new Map<string, Set<string>>();
  const writes: MemberRecord[] = [];
  const removed: string[] = [];
  for (const [key, record] of records) {
    const kept = record.people.filter((p) => !erased.has(p.person));
    for (const p of record.people) {
      if (!erased.has(p.person)) continue;
      const tokens = tokensOf.get(p.person) ?? new Set<string>();
      tokensOf.set(p.person, tokens);
      for (const t of p.tokens) tokens.add(t);
    }
    if (kept.length === record.people.length) continue;
    writes.push({ ...record, people: kept });
    if (kept.length === 0) removed.push(key);
  }
  for (let i = 0; i < writes.length; i += CHUNK)
    await deps.audiences.writeMembers(partnerId, keyId, writes.slice(i, i + CHUNK));
  return { found: named.size, erased, removed: new Set(removed), tokensOf };
}

/** Takes deleted keyed values out of every manifest of a key id's versions. */
async function pruneManifests(
  deps: IngestDeps,
  partnerId: string,
  keyId: string,
  versions: ReadonlyArray<{ segmentId: string; version: number }>,
  removed: ReadonlySet<string>,
) {
  if (removed.size === 0) return;
  for (const v of versions) {
    // Every object of the version (its filter parts, or the older single object).
    await pruneManifest(deps, partnerId, keyId, v.segmentId, v.version, (k) => !removed.has(k));
  }
}

/** POST /v1/partners/{id}/erasures: the people these identifiers identify leave every segment. */
export async function erasePeople(
  ctx: UseCaseContext,
  principal: Principal,
  partnerId: string,
  input: ErasureInput,
): Promise<ErasureOutcome> {
  requirePartnerAccess(principal, partnerId);
  const deps = ingestDeps(ctx);
  const erasureId = ctx.newId();
  const outcome = await withPartnerLock(deps, partnerId, `erasure-${erasureId}`, async () => {
    const catalog = await deps.audiences.readCatalog(partnerId);
    if (!catalog) throw new DomainError('not-found', 'No such partner audience.');
    const digests = digestsOf(input, catalog.profile);
    const versions = [
      ...catalog.segments.map(({ segmentId, version }) => ({ segmentId, version })),
      ...catalog.retired.map(({ segmentId, version }) => ({ segmentId, version })),
    ];

    const keyer = await ctx.keyer(catalog.keyId);
    const current = await eraseUnderKey(
      deps,
      partnerId,
      catalog.keyId,
      digests.map((d) => keyer.key(d.digest)),
    );
    await pruneManifests(deps, partnerId, catalog.keyId, versions, current.removed);
    // A rotated-out key's items stay until swept: the same people go from them too.
    for (const retired of catalog.retiredKeys ?? []) {
      const old = await ctx.keyer(retired.keyId);
      const gone = await eraseUnderKey(
        deps,
        partnerId,
        retired.keyId,
        digests.map((d) => old.key(d.digest)),
      );
      await pruneManifests(deps, partnerId, retired.keyId, retired.manifests, gone.removed);
    }

    // The sizes the service counts with: each erased person leaves its current segments and the base.
    const live = currentTokens(catalog.segments);
    const lower = new Map<string, number>();
    let baseDelta = 0;
    for (const tokens of current.tokensOf.values()) {
      const now = [...tokens].filter((t) => live.has(t));
      if (now.length > 0) baseDelta++;
      for (const t of now) {
        const { segmentId } = parseToken(t);
        lower.set(segmentId, (lower.get(segmentId) ?? 0) + 1);
      }
    }
    if (current.erased.size > 0) {
      const updated: PartnerCatalog = {
        ...catalog,
        segments: catalog.segments.map((s) => ({
          ...s,
          size: Math.max(0, s.size - (lower.get(s.segmentId) ?? 0)),
        })),
        baseSize: Math.max(0, catalog.baseSize - baseDelta),
        // A match after this is a new release, not a replay of one computed before it.
        erasures: (catalog.erasures ?? 0) + 1,
        revision: catalog.revision + 1,
        updatedAt: ctx.now().toISOString(),
      };
      if (!(await deps.audiences.writeCatalog(updated, catalog.revision))) {
        // Under the lock nothing else writes the catalog; a conflict means the lock expired.
        throw new DomainError('conflict', 'The catalog changed during the erasure; send the request again.');
      }
    }
    return {
      erasureId,
      partnerId,
      identifiers: digests.length,
      found: current.found,
      people: current.erased.size,
      identifiersRemoved: current.removed.size,
    };
  });
  await auditDeletion(ctx, partnerId, erasureId, partnerId, 'people-erased');
  ctx.logger.info('partner: people erased', {
    partnerId,
    erasureId,
    identifiers: outcome.identifiers,
    people: outcome.people,
  });
  return outcome;
}

/** DELETE /v1/partners/{id}/segments/{segmentId}: the segment leaves the catalog; its members are swept. */
export async function deleteSegment(
  ctx: UseCaseContext,
  principal: Principal,
  partnerId: string,
  segmentId: string,
) {
  requirePartnerAccess(principal, partnerId);
  const deps = ingestDeps(ctx);
  const owner = `segment-delete-${ctx.newId()}`;
  const outcome = await withPartnerLock(deps, partnerId, owner, async () => {
    const catalog = await deps.audiences.readCatalog(partnerId);
    const segment = catalog?.segments.find((s) => s.segmentId === segmentId);
    if (!catalog || !segment) throw new DomainError('not-found', 'No such segment.');
    // The base loses the segment's people who are in no other current segment.
    const gone = token(segment.segmentId, segment.version);
    const others = currentTokens(catalog.segments.filter((s) => s.segmentId !== segmentId));
    const keys = await readManifest(deps, partnerId, catalog.keyId, segmentId, segment.version);
    const stays = new Map<string, boolean>();
    for (const record of (await readAll(deps, partnerId, catalog.keyId, keys)).values()) {
      for (const p of record.people) {
        if (!p.tokens.includes(gone)) continue;
        stays.set(p.person, (stays.get(p.person) ?? false) || p.tokens.some((t) => others.has(t)));
      }
    }
    const leaving = [...stays.values()].filter((s) => !s).length;
    const now = ctx.now();
    const updated: PartnerCatalog = {
      ...catalog,
      segments: catalog.segments.filter((s) => s.segmentId !== segmentId),
      baseSize: Math.max(0, catalog.baseSize - leaving),
      retired: [...catalog.retired, { segmentId, version: segment.version, retiredAt: now.toISOString() }],
      revision: catalog.revision + 1,
      updatedAt: now.toISOString(),
    };
    if (!(await deps.audiences.writeCatalog(updated, catalog.revision))) {
      throw new DomainError('conflict', 'The catalog changed during the deletion; send the request again.');
    }
    // Versions retired long enough ago go now; this one once running matches are done with it.
    await sweepRetired(deps, partnerId, ctx.now);
    return {
      partnerId,
      segmentId,
      deleted: true as const,
      membersPurgedBy: new Date(now.getTime() + ctx.retireGraceSeconds * 1000).toISOString(),
    };
  });
  await auditDeletion(ctx, partnerId, segmentId, partnerId, 'segment-deleted');
  ctx.logger.info('partner: segment deleted', { partnerId, segmentId });
  return outcome;
}
