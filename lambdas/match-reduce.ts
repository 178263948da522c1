/** Step Functions task: reduce the shard tallies, apply the privacy rules once, release the result. */
import { z } from 'zod';
import { useCaseContext } from '../shared/adapters/runtime.ts';
import { reduceMatch } from '../shared/use-cases/match-pipeline.ts';

const Input = z.object({ tenantId: z.string().min(1), matchId: z.string().min(1) });

export const handler = async (event: unknown): Promise<{ matchId: string; status: string }> => {
  const job = Input.parse(event);
  const status = await reduceMatch(useCaseContext(), job);
  return { matchId: job.matchId, status };
};
