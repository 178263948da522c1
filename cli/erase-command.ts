/**
 * `onboard partner erase`: removes people from every segment of a partner by their identifiers (an
 * opt-out or an erasure request). Raw emails and phones are hashed here with the partner's profile;
 * only digests are sent, in requests of at most MAX_ERASURE_IDENTIFIERS. Every value is read
 * before the first request, so a typo refuses the whole request instead of erasing half of it.
 */
import {
  ErasureFileError,
  type ErasureIdentifiers,
  erasureBatches,
  erasureIdentifiersOf,
  readErasureFile,
} from '../shared/domain/audiences/erasure-file.ts';
import type { CountryCode } from '../shared/domain/identifiers/normalize.ts';
import type { Profile } from '../shared/domain/model.ts';
import { MAX_ERASURE_IDENTIFIERS } from '../shared/use-cases/erasure.ts';
import type { ApiClient } from './api-client.ts';
import { UserError } from './failure.ts';
import { openInput } from './input-files.ts';

export interface EraseOptions {
  partner: string;
  file?: string;
  email?: string[];
  phone?: string[];
  profile?: Profile;
  region: CountryCode;
}

export interface EraseSummary {
  partnerId: string;
  requests: number;
  erasureIds: string[];
  identifiers: number;
  found: number;
  people: number;
  identifiersRemoved: number;
}

/** The partner's profile: the flag, else the one its catalog was uploaded with. */
async function profileOf(client: ApiClient, o: EraseOptions): Promise<Profile> {
  if (o.profile) return o.profile;
  const { partners } = await client.call('listPartners');
  const own = partners.find((p) => p.partnerId === o.partner);
  if (!own) throw new UserError(`Partner ${o.partner} has no audience yet: there is nobody to erase.`);
  return own.profile;
}

async function identifiersOf(o: EraseOptions, profile: Profile): Promise<ErasureIdentifiers> {
  const hashing = { profile, region: o.region };
  try {
    const given = erasureIdentifiersOf({ email: o.email ?? [], phone: o.phone ?? [] }, hashing);
    if (!o.file) return given;
    const handle = await openInput(o.file, 'the erasure file');
    const fromFile = await readErasureFile(handle.createReadStream(), hashing);
    return {
      email_sha256: [...new Set([...given.email_sha256, ...fromFile.email_sha256])],
      phone_sha256: [...new Set([...given.phone_sha256, ...fromFile.phone_sha256])],
    };
  } catch (error) {
    if (error instanceof ErasureFileError) throw new UserError(error.message);
    throw error;
  }
}

export async function runErase(client: ApiClient, o: EraseOptions): Promise<EraseSummary> {
  if (!o.file && !o.email?.length && !o.phone?.length)
    throw new UserError('Name the people to erase: --file, --email or --phone.');
  const profile = await profileOf(client, o);
  const ids = await identifiersOf(o, profile);
  const summary: EraseSummary = {
    partnerId: o.partner,
    requests: 0,
    erasureIds: [],
    identifiers: 0,
    found: 0,
    people: 0,
    identifiersRemoved: 0,
  };
  for (const body of erasureBatches(ids, MAX_ERASURE_IDENTIFIERS)) {
    const answer = await client.call('erasePeople', { params: { id: o.partner }, body });
    summary.requests++;
    summary.erasureIds.push(answer.erasureId);
    summary.identifiers += answer.identifiers;
    summary.found += answer.found;
    summary.people += answer.people;
    summary.identifiersRemoved += answer.identifiersRemoved;
  }
  return summary;
}

export function renderErase(s: EraseSummary): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return [
    `erased ${n(s.people)} people from every segment of ${s.partnerId}`,
    `  identifiers named: ${n(s.identifiers)}, held by the audience: ${n(s.found)}, identifier entries removed: ${n(s.identifiersRemoved)}`,
    `  requests: ${s.requests} (audited as ${s.erasureIds.join(', ')})`,
    '  published segment sizes change at the next upload of each segment; no privacy budget is refilled.',
  ].join('\n');
}
