/**
 * A PeopleSink (matchShard's `peopleSink`) that records what it is told, as sortable lines:
 * `primary <hex>` per distinct primary identifier, `<primary hex> <kind> <hex>` per distinct pair.
 */
import type { PeopleSink } from '../../shared/domain/matching/match-shard.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export function recordingSink(into: string[]): PeopleSink {
  return {
    primaries(digests, from, count) {
      for (let i = 0; i < count; i++)
        into.push(`primary ${hex(digests.subarray(from + i * 32, from + i * 32 + 32))}`);
    },
    pair(primary, id) {
      into.push(`${hex(primary)} ${id.kind} ${hex(id.digest)}`);
    },
  };
}
