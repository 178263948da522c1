/**
 * Composition root of the functions: config read and validated once at init, the AWS SDK clients
 * and the adapters built once per process and reused across invocations.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { timeOrderedId } from '../domain/ids.ts';
import type {
  AudienceKeyer,
  DomainLogger,
  IngestRunner,
  JobStore,
  Ledger,
  MaintenanceRunner,
  MatchRunner,
  ObjectStore,
} from '../domain/ports.ts';
import type { PrivacySettings } from '../domain/privacy/privacy-params.ts';
import { privacySettingsOf, type RuntimeConfig, readRuntimeConfig } from '../infra/runtime-config.ts';
import type { UseCaseContext } from '../use-cases/context.ts';
import { awsClients } from './aws-clients.ts';
import { DynamoAudienceStore } from './dynamodb/audience-store.ts';
import { DynamoJobStore } from './dynamodb/job-store.ts';
import { DynamoLedger } from './dynamodb/ledger.ts';
import { LambdaMaintenanceRunner } from './lambda/maintenance-runner.ts';
import type { PepperRing } from './pepper.ts';
import { hmacKeyer, loadOrCreatePepperFile, loadPepperSecret, rekeyer } from './pepper.ts';
import { S3ObjectStore } from './s3/object-store.ts';
import { StepFunctionsIngestRunner, StepFunctionsRunner } from './sfn/step-functions-runner.ts';

export interface Runtime {
  config: RuntimeConfig;
  settings: PrivacySettings;
  buckets: { uploads: string; partnerDrops: string; results: string };
  jobs: JobStore;
  audiences: DynamoAudienceStore;
  objects: ObjectStore;
  ledger: Ledger;
  runner: MatchRunner;
  ingestRunner: IngestRunner | undefined;
  logger: DomainLogger;
  pepper(fresh?: boolean): Promise<PepperRing>;
  maintenance: MaintenanceRunner;
  keyer(keyId?: string): Promise<AudienceKeyer>;
  stableKeyer(): Promise<AudienceKeyer>;
}

let current: Runtime | undefined;
let localRunner: MatchRunner | undefined;
let localMaintenance: MaintenanceRunner | undefined;
let localIngestRunner: IngestRunner | undefined;
const PEPPER_TTL_MS = 5 * 60_000;

/** The embedded stack runs maintenance in-process instead of invoking the maintenance function. */
export function useLocalMaintenance(runner: MaintenanceRunner | undefined): void {
  localMaintenance = runner;
}

/** One Logger for the service; the incoming event is never logged. */
export const logger = new Logger({ serviceName: 'onboard' });

/** The embedded stack runs matches on worker threads instead of Step Functions. */
/** The domain's narrow logger over Powertools; fields become structured keys. */
export function domainLogger(base: Logger = logger): DomainLogger {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) =>
      fields ? base[level](message, fields) : base[level](message);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function useLocalMatchRunner(runner: MatchRunner | undefined): void {
  localRunner = runner;
}

/** The embedded stack runs an ingest's map steps on worker threads instead of Step Functions. */
export function useLocalIngestRunner(runner: IngestRunner | undefined): void {
  localIngestRunner = runner;
}

export function resetRuntime(): void {
  current = undefined;
}

export function runtime(): Runtime {
  if (current) return current;
  const config = readRuntimeConfig();
  const clients = awsClients();
  let ring: Promise<PepperRing> | undefined;
  let loadedAt = 0;
  const pepper = (fresh = false) => {
    // Reloaded now and then, so a rotated ring reaches long-lived containers without a deploy.
    if (fresh || Date.now() - loadedAt > PEPPER_TTL_MS) {
      ring = undefined;
      loadedAt = Date.now();
    }
    ring ??= config.PEPPER_SECRET_ID
      ? loadPepperSecret(clients.secrets, config.PEPPER_SECRET_ID)
      : config.PEPPER_FILE
        ? Promise.resolve(loadOrCreatePepperFile(config.PEPPER_FILE))
        : Promise.reject(
            new Error('Invalid function configuration: PEPPER_SECRET_ID or PEPPER_FILE is required'),
          );
    return ring;
  };
  const runner: MatchRunner = config.MATCH_STATE_MACHINE_ARN
    ? new StepFunctionsRunner(() => clients.sfn, config.MATCH_STATE_MACHINE_ARN)
    : {
        start: (job) => {
          if (!localRunner)
            throw new Error('No match runner: set MATCH_STATE_MACHINE_ARN or start the embedded stack');
          return localRunner.start(job);
        },
      };
  const ingestRunner: IngestRunner | undefined = config.INGEST_STATE_MACHINE_ARN
    ? new StepFunctionsIngestRunner(() => clients.sfn, config.INGEST_STATE_MACHINE_ARN)
    : undefined;
  const maintenance: MaintenanceRunner = config.MAINTENANCE_FUNCTION_NAME
    ? new LambdaMaintenanceRunner(() => clients.lambda, config.MAINTENANCE_FUNCTION_NAME)
    : {
        start: (action) => {
          if (!localMaintenance)
            throw new Error(
              'No maintenance runner: set MAINTENANCE_FUNCTION_NAME or start the embedded stack',
            );
          return localMaintenance.start(action);
        },
      };
  const built: Runtime = {
    config,
    settings: privacySettingsOf(),
    buckets: {
      uploads: config.UPLOADS_BUCKET,
      partnerDrops: config.PARTNER_DROPS_BUCKET,
      results: config.RESULTS_BUCKET,
    },
    jobs: new DynamoJobStore(
      clients.dynamodb,
      config.JOBS_TABLE,
      config.RETENTION_DAYS,
      config.ONBOARD_INSTANCE_ID,
    ),
    audiences: new DynamoAudienceStore(
      clients.dynamodb,
      config.AUDIENCES_TABLE,
      {},
      () => new Date(),
      config.ONBOARD_INSTANCE_ID,
    ),
    objects: new S3ObjectStore(clients.s3),
    ledger: new DynamoLedger(clients.dynamodb, config.LEDGER_TABLE),
    runner,
    ingestRunner,
    maintenance,
    logger: domainLogger(),
    pepper,
    keyer: async (keyId) => {
      const ring = await pepper();
      // A key id this container has not seen yet: the ring was rotated since it was loaded.
      return hmacKeyer(keyId && !ring.keys.has(keyId) ? await pepper(true) : ring, keyId);
    },
    stableKeyer: async () => {
      const ring = await pepper();
      return hmacKeyer(ring, ring.keys.keys().next().value as string);
    },
  };
  current = built;
  return built;
}

/** The use cases' view of the runtime. */
export function useCaseContext(): UseCaseContext {
  const rt = runtime();
  return {
    settings: rt.settings,
    buckets: rt.buckets,
    jobs: rt.jobs,
    audiences: rt.audiences,
    objects: rt.objects,
    ledger: rt.ledger,
    runner: rt.runner,
    // The embedded stack's worker threads, unless the ingest state machine runs the steps.
    ...((rt.ingestRunner ?? localIngestRunner) ? { ingestRunner: rt.ingestRunner ?? localIngestRunner } : {}),
    logger: rt.logger,
    keyer: rt.keyer,
    stableKeyer: rt.stableKeyer,
    currentKeyId: async () => (await rt.pepper(true)).current,
    rekeyer: async (from, to) => rekeyer(await rt.pepper(true), from, to),
    maintenance: rt.maintenance,
    shardCount: rt.config.SHARD_COUNT,
    maxIngestRows: rt.config.MAX_INGEST_ROWS,
    maxRunningMatches: rt.config.MAX_RUNNING_MATCHES,
    retireGraceSeconds: rt.config.RETIRE_GRACE_SECONDS,
    retentionDays: rt.config.RETENTION_DAYS,
    now: () => new Date(),
    newId: () => timeOrderedId(new Date(), randomUUID()),
  };
}
