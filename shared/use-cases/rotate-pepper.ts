/**
 * Pepper rotation (docs/privacy.md, rule 6): after the operator adds a new current key to the ring,
 * every partner's members are re-keyed in the background. Each member item is copied under the new
 * key id (its keyed value re-keyed through the newer keys of the chain, so no digest is needed),
 * the manifests likewise, then the catalog flips to the new key id in one conditional write.
 * A match pins the key id with its snapshot, so it reads old items or new ones, never a mix; the
 * old items are swept once no running match can still read them.
 */
import {
  DEFAULT_BITS_PER_KEY,
  FILTER_PARTS,
  filterPartOf,
  MembershipFilter,
} from '../domain/audiences/membership-filter.ts';
import { DomainError } from '../domain/errors.ts';
import type { PartnerCatalog } from '../domain/model.ts';
import type { MemberRecord } from '../domain/ports.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import { type IngestDeps, readManifest, sweepRetired, waitForLock } from './ingest-audience.ts';

export interface RekeyDeps extends IngestDeps {
  /** The ring's current key id, read fresh (the operator just rotated). */
  currentKeyId(): Promise<string>;
  rekeyer(fromKeyId: string, toKeyId: string): Promise<(key: string) => string>;
}

export interface RekeyOutcome {
  partnerId: string;
  from: string;
  to: string;
  members: number;
}

const CHUNK = 1_000;

export async function rekeyPartner(deps: RekeyDeps, partnerId: string): Promise<RekeyOutcome | undefined> {
  const now = deps.now ?? (() => new Date());
  const owner = `rekey-${now().getTime()}`;
  if (!(await waitForLock(deps, partnerId, owner))) {
    throw new DomainError('conflict', `Partner ${partnerId} is busy ingesting; re-keying will be retried.`);
  }
  try {
    const catalog = await deps.audiences.readCatalog(partnerId);
    const to = await deps.currentKeyId();
    if (!catalog || catalog.keyId === to) return undefined;
    const from = catalog.keyId;
    const rekey = await deps.rekeyer(from, to);

    const versions = [
      ...catalog.segments.map((s) => ({ segmentId: s.segmentId, version: s.version })),
      ...catalog.retired.map((r) => ({ segmentId: r.segmentId, version: r.version })),
    ];
    const members = new Set<string>();
    // The membership filter is keyed too: rebuilt from the re-keyed values of the current versions.
    const filterKeys: string[][] = Array.from({ length: FILTER_PARTS }, () => []);
    const current = new Set(catalog.segments.map((s) => `${s.segmentId}#${s.version}`));
    for (const v of versions) {
      const keys = await readManifest(deps, partnerId, from, v.segmentId, v.version);
      for (const key of keys) members.add(key);
      // Re-keyed values fall in other parts: the manifest is written again part by part.
      const parts: string[][] = Array.from({ length: FILTER_PARTS }, () => []);
      for (const key of keys) {
        const rekeyed = rekey(key);
        const part = filterPartOf(rekeyed);
        parts[part]?.push(rekeyed);
        if (current.has(`${v.segmentId}#${v.version}`)) filterKeys[part]?.push(rekeyed);
      }
      for (const [part, partKeys] of parts.entries()) {
        if (partKeys.length === 0) continue;
        await deps.objects.write(
          deps.buckets.results,
          OBJECT_KEYS.manifestPart(partnerId, to, v.segmentId, v.version, part),
          `${partKeys.join('\n')}\n`,
          'text/plain',
        );
      }
    }
    const filterId = `rekey-${to}-${now().getTime()}`;
    let filtered = 0;
    for (const [part, keys] of filterKeys.entries()) {
      const filter = MembershipFilter.sized(keys.length, DEFAULT_BITS_PER_KEY);
      for (const key of keys) filter.add(key);
      filtered += keys.length;
      await deps.objects.write(
        deps.buckets.results,
        OBJECT_KEYS.filterPart(partnerId, to, filterId, part),
        filter.bytes(),
        'application/octet-stream',
      );
    }
    const all = [...members];
    for (let i = 0; i < all.length; i += CHUNK) {
      const chunk = all.slice(i, i + CHUNK);
      const existing = await deps.audiences.readMembers(partnerId, from, chunk);
      const copies: MemberRecord[] = [];
      for (const [key, record] of existing) {
        // The person keys are keyed values too: they move to the new key with the identifiers.
        copies.push({
          key: rekey(key),
          kind: record.kind,
          people: record.people.map((p) => ({ person: rekey(p.person), tokens: p.tokens })),
          ...(record.links ? { links: record.links.map(rekey) } : {}),
        });
      }
      await deps.audiences.writeMembers(partnerId, to, copies);
    }
    const flipped: PartnerCatalog = {
      ...catalog,
      keyId: to,
      filter: {
        id: filterId,
        keyId: to,
        parts: FILTER_PARTS,
        bitsPerKey: DEFAULT_BITS_PER_KEY,
        keys: filtered,
      },
      retiredFilters: [
        ...(catalog.retiredFilters ?? []),
        ...(catalog.filter
          ? [
              {
                id: catalog.filter.id,
                keyId: catalog.filter.keyId,
                parts: catalog.filter.parts,
                retiredAt: now().toISOString(),
              },
            ]
          : []),
      ],
      retiredKeys: [
        ...(catalog.retiredKeys ?? []),
        { keyId: from, retiredAt: now().toISOString(), manifests: versions },
      ],
      revision: catalog.revision + 1,
      updatedAt: now().toISOString(),
    };
    if (!(await deps.audiences.writeCatalog(flipped, catalog.revision))) {
      throw new DomainError('conflict', 'The catalog changed during re-keying; it will be retried.');
    }
    await sweepRetired(deps, partnerId, now);
    deps.logger.info('pepper: partner re-keyed', { partnerId, from, to, members: all.length });
    return { partnerId, from, to, members: all.length };
  } finally {
    await deps.audiences.releaseLock(partnerId, owner);
  }
}

/** Re-keys every partner; one partner's failure does not stop the others. */
export async function rekeyAll(deps: RekeyDeps): Promise<{ rekeyed: RekeyOutcome[]; failed: string[] }> {
  const rekeyed: RekeyOutcome[] = [];
  const failed: string[] = [];
  for (const partnerId of await deps.audiences.listPartners()) {
    try {
      const outcome = await rekeyPartner(deps, partnerId);
      if (outcome) rekeyed.push(outcome);
    } catch (error) {
      failed.push(partnerId);
      deps.logger.error('pepper: re-keying failed', {
        partnerId,
        code: error instanceof DomainError ? error.code : 'error',
      });
    }
  }
  return { rekeyed, failed };
}

/** Sweeps every partner's retired versions and keys that are past their grace period. */
export async function sweepAll(deps: IngestDeps): Promise<number> {
  const now = deps.now ?? (() => new Date());
  let swept = 0;
  for (const partnerId of await deps.audiences.listPartners()) {
    const owner = `sweep-${now().getTime()}`;
    if (!(await deps.audiences.acquireLock(partnerId, owner, 900))) continue;
    try {
      swept += await sweepRetired(deps, partnerId, now);
    } finally {
      await deps.audiences.releaseLock(partnerId, owner);
    }
  }
  return swept;
}
