// A worker thread of the embedded stack's match runner: runs the match-shard Lambda handler, the
// same code a Step Functions Distributed Map item runs in AWS. Plain .mjs so it can register tsx.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { handler } = await import('../lambdas/match-shard.ts');

parentPort.on('message', async ({ id, job }) => {
  try {
    parentPort.postMessage({ id, ok: true, result: await handler(job) });
  } catch (error) {
    parentPort.postMessage({
      id,
      ok: false,
      error: {
        name: error?.name,
        code: error?.code,
        detail: error?.detail,
        message: String(error?.message ?? error),
      },
    });
  }
});
parentPort.postMessage({ ready: true });
