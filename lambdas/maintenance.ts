/**
 * Maintenance: re-keying after a pepper rotation ({ action: 'rekey' }, invoked by the admin API),
 * and sweeps ({ action: 'sweep' }, or the hourly schedule): recovery of interrupted jobs first
 * (shared/use-cases/recover-jobs.ts), then retired segment versions and keys, then retention
 * (lists and matches past their age, deleted as a user's deletion would).
 */
import { z } from 'zod';
import { domainLogger, runtime, useCaseContext } from '../shared/adapters/runtime.ts';
import { enforceRetention, type RetentionReport } from '../shared/use-cases/deletion.ts';
import { LIST_LIFETIME_DAYS } from '../shared/use-cases/lists.ts';
import { rekeyDeps } from '../shared/use-cases/partners.ts';
import { type RecoveryReport, recoverJobs } from '../shared/use-cases/recover-jobs.ts';
import { rekeyAll, sweepAll } from '../shared/use-cases/rotate-pepper.ts';

const Input = z.union([
  z.object({ action: z.enum(['rekey', 'sweep']) }),
  // An EventBridge schedule.
  z.object({ source: z.literal('aws.events') }).transform(() => ({ action: 'sweep' as const })),
]);

const logger = domainLogger();

/** What of the Lambda context is used: the time left, so recovery starts no work it cannot finish. */
type Context = { getRemainingTimeInMillis?(): number } | undefined;

export const handler = async (
  event: unknown,
  context?: Context,
): Promise<{
  action: string;
  partners?: number;
  failed?: number;
  swept?: number;
  recovered?: RecoveryReport;
  retention?: RetentionReport;
}> => {
  const { action } = Input.parse(event);
  const ctx = useCaseContext();
  const deps = rekeyDeps(ctx);
  if (action === 'rekey') {
    const { rekeyed, failed } = await rekeyAll(deps);
    logger.info('maintenance: rekey done', { partners: rekeyed.length, failed: failed.length });
    // Failing makes Lambda retry the asynchronous invocation; re-keying is idempotent.
    if (failed.length > 0) throw new Error(`re-keying failed for ${failed.length} partners`);
    return { action, partners: rekeyed.length, failed: 0 };
  }
  const instance = runtime().config.ONBOARD_INSTANCE_ID;
  const remaining = context?.getRemainingTimeInMillis?.bind(context);
  const recovered = await recoverJobs(ctx, {
    ...(instance ? { instance } : {}),
    ...(remaining ? { remainingMs: remaining } : {}),
  });
  const swept = await sweepAll(deps);
  const retention = await enforceRetention(ctx, LIST_LIFETIME_DAYS);
  logger.info('maintenance: sweep done', { swept, ...recovered, ...retention });
  return { action, swept, recovered, retention };
};
