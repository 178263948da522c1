/**
 * `onboard partner upload` takes a partner's raw export as it is: when the members file's header
 * names raw email or phone columns, they are hashed here (the partner's profile, each kind by its
 * own rules) into `email_sha256,phone_sha256,segment_id` in a private scratch file, and only that
 * is uploaded. A file already hashed is uploaded as it is.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  hashRawMembers,
  holdsRawIdentifiers,
  RawMembersError,
  type RawMembersSummary,
} from '../shared/domain/audiences/raw-members.ts';
import type { CountryCode } from '../shared/domain/identifiers/normalize.ts';
import type { Profile } from '../shared/domain/model.ts';
import { UserError } from './failure.ts';
import { removeScratch, scratchDir } from './scratch.ts';

/** The first line of a file, split on commas (enough to read a header's names). */
async function headerOf(path: string): Promise<string[]> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(8192), 0, 8192, 0);
    const first =
      buffer
        .subarray(0, bytesRead)
        .toString('utf8')
        .replace(/^\uFEFF/, '')
        .split(/\r?\n/, 1)[0] ?? '';
    return first.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
  } finally {
    await handle.close();
  }
}

export interface PreparedMembers {
  /** The file to upload: the partner's own when already hashed, else a scratch file of hashes. */
  file: string;
  /** Set when the file was hashed here. */
  hashed?: RawMembersSummary;
  /** Removes the scratch file (a no-op for the partner's own file). */
  done(): Promise<void>;
}

export async function prepareMembersFile(
  path: string,
  options: { profile: Profile; region?: CountryCode },
): Promise<PreparedMembers> {
  if (!holdsRawIdentifiers(await headerOf(path))) return { file: path, done: async () => {} };
  const dir = await scratchDir('onboard-members-');
  const file = join(dir, 'members.csv');
  const summary: RawMembersSummary = {
    rows: 0,
    hashed: { email: 0, phone: 0 },
    invalid: { email: 0, phone: 0 },
  };
  try {
    await pipeline(
      hashRawMembers(createReadStream(path), options, summary),
      createWriteStream(file, { mode: 0o600 }),
    );
  } catch (error) {
    await removeScratch(dir);
    if (error instanceof RawMembersError) throw new UserError(error.message);
    throw error;
  }
  return { file, hashed: summary, done: () => removeScratch(dir) };
}
