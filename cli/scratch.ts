/**
 * The CLI's scratch folders in the temp directory: a list's hashes on their way to the upload, the
 * demo's whole embedded stack. Hashes of customer identifiers are personal data (unkeyed SHA-256
 * of an email is reversible by guessing), so a scratch folder never outlives its command: it is
 * removed when the work ends and, whatever happens, when the process exits, is interrupted
 * (Ctrl-C), terminated or loses its terminal.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<string>();

/** A fresh owner-only folder in the temp directory, removed at exit if not before. */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  live.add(dir);
  return dir;
}

/** Removes a scratch folder now. */
export async function removeScratch(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  live.delete(dir);
}

/** Removes every scratch folder still there, synchronously: the last thing a dying process does. */
export function removeAllScratch(): void {
  for (const dir of live) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
      live.delete(dir);
    } catch {
      // Nothing more can be done on the way out; the next line of stderr names the failure.
    }
  }
}

/** The signals a command cleans up on: Ctrl-C, `kill`, a closed terminal. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * For a command run from the CLI: scratch folders go at exit and, on SIGINT, SIGTERM or SIGHUP,
 * the process removes them, says so in one line and ends by the same signal, as a shell expects
 * (status 130 for Ctrl-C, 143 for SIGTERM). Re-raised rather than exited: an exit waits for file
 * reads in flight, and a read from a pipe or a terminal may never end.
 */
export function removeScratchOnExit(say: (line: string) => void): void {
  process.once('exit', removeAllScratch);
  for (const signal of SIGNALS) {
    process.once(signal, () => {
      const had = live.size > 0;
      removeAllScratch();
      say(
        `${signal === 'SIGINT' ? 'interrupted' : `stopped by ${signal}`}${had ? '; temporary files removed' : ''}.`,
      );
      for (const other of SIGNALS) process.removeAllListeners(other);
      process.kill(process.pid, signal);
    });
  }
}
