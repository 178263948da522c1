/**
 * MatchRunner and IngestRunner on Step Functions: one execution a match or an ingest, named after
 * it so a retry cannot start two.
 */
import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { IngestRunner, MatchRunner } from '../../domain/ports.ts';

export class StepFunctionsRunner implements MatchRunner {
  constructor(
    /** Built on first use: most functions never start an execution. */
    private readonly client: () => SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(job: { tenantId: string; matchId: string }): Promise<void> {
    try {
      await this.client().send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: job.matchId,
          input: JSON.stringify(job),
        }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }
}

export class StepFunctionsIngestRunner implements IngestRunner {
  constructor(
    private readonly client: () => SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(job: { partnerId: string; audienceId: string; ranges: number[] }): Promise<void> {
    try {
      await this.client().send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          // Audience ids are unique per partner only: the name holds both (at most 80 characters).
          name: `${job.partnerId}-${job.audienceId}`.slice(0, 80),
          input: JSON.stringify(job),
        }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }
}
