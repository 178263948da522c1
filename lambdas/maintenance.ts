/**
 * Maintenance: re-keying after a pepper rotation ({ action: 'rekey' }, invoked by the admin API),
 * and sweeps of retired segment versions and keys ({ action: 'sweep' }, or the hourly schedule).
 */
import { z } from 'zod';
import { domainLogger, useCaseContext } from '../shared/adapters/runtime.ts';
import { rekeyDeps } from '../shared/use-cases/partners.ts';
import { rekeyAll, sweepAll } from '../shared/use-cases/rotate-pepper.ts';

const Input = z.union([
  z.object({ action: z.enum(['rekey', 'sweep']) }),
  // An EventBridge schedule.
  z.object({ source: z.literal('aws.events') }).transform(() => ({ action: 'sweep' as const })),
]);

const logger = domainLogger();

export const handler = async (
  event: unknown,
): Promise<{ action: string; partners?: number; failed?: number; swept?: number }> => {
  const { action } = Input.parse(event);
  const deps = rekeyDeps(useCaseContext());
  if (action === 'rekey') {
    const { rekeyed, failed } = await rekeyAll(deps);
    logger.info('maintenance: rekey done', { partners: rekeyed.length, failed: failed.length });
    // Failing makes Lambda retry the asynchronous invocation; re-keying is idempotent.
    if (failed.length > 0) throw new Error(`re-keying failed for ${failed.length} partners`);
    return { action, partners: rekeyed.length, failed: 0 };
  }
  const swept = await sweepAll(deps);
  logger.info('maintenance: sweep done', { swept });
  return { action, swept };
};
