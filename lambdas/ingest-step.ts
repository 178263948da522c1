/**
 * Step Functions task of the ingest state machine (and the embedded stack's worker threads): one
 * step of a partner ingest after its plan: a split range, the join, a people unit, the gate, an
 * identifier part, finish, or fail (the Catch).
 */
import { z } from 'zod';
import { useCaseContext } from '../shared/adapters/runtime.ts';
import type { IngestStepOutput } from '../shared/use-cases/ingest-audience.ts';
import { ingestStep } from '../shared/use-cases/partners.ts';

const Job = { partnerId: z.string().min(1), audienceId: z.string().min(1) };
const Input = z.union([
  z.object({ ...Job, step: z.enum(['split', 'people', 'identifiers']), item: z.number().int().min(0) }),
  z.object({ ...Job, step: z.enum(['join', 'gate', 'finish']) }),
  z.object({
    ...Job,
    step: z.literal('fail'),
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  }),
]);

export const handler = async (event: unknown): Promise<IngestStepOutput> =>
  ingestStep(useCaseContext(), Input.parse(event));
