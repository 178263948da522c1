/** Step Functions task: split a match's hashed list into shards by hash prefix. */
import { z } from 'zod';
import { useCaseContext } from '../shared/adapters/runtime.ts';
import { failMatch, type SplitOutput, splitMatch } from '../shared/use-cases/match-pipeline.ts';

const Input = z.object({ tenantId: z.string().min(1), matchId: z.string().min(1) });

export const handler = async (event: unknown): Promise<SplitOutput> => {
  const job = Input.parse(event);
  const ctx = useCaseContext();
  try {
    return await splitMatch(ctx, job);
  } catch (error) {
    await failMatch(ctx, job, error);
    throw error;
  }
};
