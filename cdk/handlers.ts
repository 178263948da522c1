/**
 * The Lambda handlers of the service (lambdas/NAME.ts, each exporting `handler`) and where the
 * repository lives, for the CDK app, the bundle-size test and the bundle benchmark.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export const LAMBDA_HANDLERS = [
  'api',
  'list-upload',
  'ingest',
  'ingest-step',
  'match-split',
  'match-shard',
  'match-reduce',
  'maintenance',
] as const;
export type LambdaHandlerName = (typeof LAMBDA_HANDLERS)[number];

export function handlerEntry(name: LambdaHandlerName, handlersDir = join(REPO_ROOT, 'lambdas')): string {
  return join(handlersDir, `${name}.ts`);
}
