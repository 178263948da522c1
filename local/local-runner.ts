/**
 * The embedded stack's MatchRunner and IngestRunner: the Step Functions flows run by the same Lambda
 * handlers, with map items (match shards, ingest people units and identifier parts) run in parallel
 * on worker threads.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DOMAIN_ERROR_CODES, DomainError, type DomainErrorCode } from '../shared/domain/errors.ts';
import type { IngestRunner, MatchRunner } from '../shared/domain/ports.ts';

type Job = { tenantId: string; matchId: string };
type ShardJob = Job & { shard: number };
type IngestJob = { partnerId: string; audienceId: string };
/** The handler a worker runs for a map item (local/shard-worker.mjs). */
type Task = 'match-shard' | 'ingest-step';
type Item = { task: Task; job: unknown };
type Handler<I, O> = (event: I) => Promise<O>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** A fixed pool of worker threads running map items' handlers (match-shard, ingest-step). */
export class ShardWorkerPool {
  private readonly workers: { worker: Worker; ready: Promise<void> }[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly owners = new Map<number, Worker>();
  private readonly idle: Worker[] = [];
  private readonly queue: { item: Item; pending: Pending }[] = [];
  private nextId = 0;

  constructor(size = Math.max(1, Math.min(2, availableParallelism())), env: NodeJS.ProcessEnv = process.env) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./shard-worker.mjs', import.meta.url), {
        env: { ...env },
        stdout: true,
        stderr: true,
      });
      // Forward worker logs through this process's streams, so they are captured like the rest.
      worker.stdout.on('data', (chunk) => process.stdout.write(chunk));
      worker.stderr.on('data', (chunk) => process.stderr.write(chunk));
      const ready = new Promise<void>((resolve, reject) => {
        worker.on(
          'message',
          (message: {
            ready?: boolean;
            id?: number;
            ok?: boolean;
            result?: unknown;
            error?: { code?: string; detail?: string; message: string };
          }) => {
            if (message.ready) {
              resolve();
              this.release(worker);
              return;
            }
            const p = this.pending.get(message.id as number);
            this.pending.delete(message.id as number);
            this.release(worker);
            if (!p) return;
            if (message.ok) p.resolve(message.result);
            else if (
              message.error?.code &&
              DOMAIN_ERROR_CODES.includes(message.error.code as DomainErrorCode)
            ) {
              p.reject(
                new DomainError(
                  message.error.code as DomainErrorCode,
                  message.error.detail ?? message.error.message,
                ),
              );
            } else p.reject(new Error(message.error?.message ?? 'shard worker failed'));
          },
        );
        worker.once('error', reject);
      });
      // A worker that dies takes its job with it: fail that job rather than leave the match hanging.
      worker.once('exit', (code) => {
        for (const [id, owner] of this.owners) {
          if (owner !== worker) continue;
          this.owners.delete(id);
          const p = this.pending.get(id);
          this.pending.delete(id);
          p?.reject(new Error(`shard worker exited with code ${code}`));
        }
      });
      this.workers.push({ worker, ready });
    }
  }

  private release(worker: Worker) {
    const next = this.queue.shift();
    if (next) this.dispatch(worker, next.item, next.pending);
    else this.idle.push(worker);
  }

  private dispatch(worker: Worker, item: Item, pending: Pending) {
    const id = this.nextId++;
    this.pending.set(id, pending);
    this.owners.set(id, worker);
    worker.postMessage({ id, task: item.task, job: item.job });
  }

  run(job: ShardJob): Promise<unknown> {
    return this.runItem({ task: 'match-shard', job });
  }

  runItem(item: Item): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const pending = { resolve, reject };
      const worker = this.idle.pop();
      if (worker) this.dispatch(worker, item, pending);
      else this.queue.push({ item, pending });
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.ready));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

export class LocalMatchRunner implements MatchRunner {
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly pool: ShardWorkerPool,
    private readonly split: Handler<Job, Job & { shards: number[] }>,
    private readonly reduce: Handler<Job, unknown>,
    private readonly fail: (job: Job, error: unknown) => Promise<void>,
  ) {}

  async start(job: Job): Promise<void> {
    // Like StartExecution: accepted now, run in the background.
    const run = this.run(job).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async run(job: Job): Promise<void> {
    try {
      const { shards } = await this.split(job);
      await Promise.all(shards.map((shard) => this.pool.run({ ...job, shard })));
      await this.reduce(job);
    } catch (error) {
      // The state machine's Catch: mark the match FAILED (split already did if it failed there).
      await this.fail(job, error).catch(() => undefined);
    }
  }

  /** Resolves when every match started so far has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}

/**
 * The embedded stack's ingest map: an ingest's split ranges, people units or identifier parts, run on the
 * pool's worker threads (as many at once as it has threads) by the ingest-step handler a Distributed
 * Map item runs in AWS. Like the map, it fails when an item fails, once every item has settled.
 */
export class LocalIngestRunner implements IngestRunner {
  constructor(private readonly pool: ShardWorkerPool) {}

  async map(step: 'split' | 'people' | 'identifiers', job: IngestJob, items: number[]): Promise<void> {
    const settled = await Promise.allSettled(
      items.map((item) => this.pool.runItem({ task: 'ingest-step', job: { ...job, step, item } })),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
