/** Step Functions Distributed Map item: match one shard and write its tally. */
import { z } from 'zod';
import { useCaseContext } from '../shared/adapters/runtime.ts';
import { matchOneShard } from '../shared/use-cases/match-pipeline.ts';

const Input = z.object({
  tenantId: z.string().min(1),
  matchId: z.string().min(1),
  shard: z.number().int().min(0).max(255),
});

export const handler = async (event: unknown): Promise<{ shard: number; distinct: number }> => {
  const job = Input.parse(event);
  const tally = await matchOneShard(useCaseContext(), job);
  // Only the shard's size goes back to the state machine: true match counts stay in the bucket.
  return { shard: job.shard, distinct: tally.distinct };
};
