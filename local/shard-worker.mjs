// A worker thread of the embedded stack's map runner: runs a map item's Lambda handler, the same code
// a Step Functions Distributed Map item runs in AWS (a match shard, or an ingest's people unit or
// identifier part). Plain .mjs so it can register tsx.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const handlers = {
  'match-shard': (await import('../lambdas/match-shard.ts')).handler,
  'ingest-step': (await import('../lambdas/ingest-step.ts')).handler,
};

parentPort.on('message', async ({ id, task, job }) => {
  try {
    parentPort.postMessage({ id, ok: true, result: await handlers[task ?? 'match-shard'](job) });
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
