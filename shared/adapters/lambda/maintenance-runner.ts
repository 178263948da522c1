/** MaintenanceRunner in AWS: an asynchronous (Event) invocation of the maintenance function. */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { MaintenanceRunner } from '../../domain/ports.ts';

export class LambdaMaintenanceRunner implements MaintenanceRunner {
  constructor(
    /** Built on first use. */
    private readonly client: () => LambdaClient,
    private readonly functionName: string,
  ) {}

  async start(action: 'rekey' | 'sweep'): Promise<void> {
    await this.client().send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify({ action })),
      }),
    );
  }
}
