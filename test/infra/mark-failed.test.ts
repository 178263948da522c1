/**
 * The state machine's Catch writes FAILED straight into the Jobs table, bypassing the job store:
 * this runs the very UpdateItem of the synthesized template against dynalite and reads the job
 * back through the job store, so the two cannot drift apart on the item layout again.
 */
import { type AttributeValue, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedInfra } from '../../local/embedded-infra.ts';
import { DynamoJobStore } from '../../shared/adapters/dynamodb/job-store.ts';
import type { MatchRecord } from '../../shared/domain/jobs.ts';
import { startStorage } from '../integration/helpers.ts';
import { synthForTest } from './synth.ts';

interface UpdateParameters {
  ConditionExpression: string;
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, { S?: string; 'S.$'?: string }>;
}

let storage: Awaited<ReturnType<typeof startStorage>>;
let infra: EmbeddedInfra;
let client: DynamoDBClient;
let jobs: DynamoJobStore;
let mark: UpdateParameters;

beforeAll(async () => {
  const app = synthForTest();
  const [sm] = Object.entries(app.statelessTemplate.findResources('AWS::StepFunctions::StateMachine'))
    .filter(([id]) => id.startsWith('MatchStateMachine'))
    .map(([, r]) => r);
  const parts = (sm as { Properties: { DefinitionString: { 'Fn::Join': [string, unknown[]] } } }).Properties
    .DefinitionString['Fn::Join'][1];
  const definition = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
  mark = definition.States.MarkJobFailed.Parameters as UpdateParameters;
  storage = await startStorage('mark-failed');
  infra = storage.infra;
  client = storage.dynamodb;
  jobs = new DynamoJobStore(client, infra.env.JOBS_TABLE as string);
});

afterAll(async () => {
  await storage?.stop();
});

function match(matchId: string, status: MatchRecord['status']): MatchRecord {
  const now = new Date().toISOString();
  return {
    kind: 'match',
    tenantId: 'acme',
    matchId,
    listId: 'l1',
    partnerId: 'p1',
    minSegmentSize: 50,
    status,
    progress: { phase: 'matching', shardsDone: 3, shardsTotal: 16 },
    createdAt: now,
    updatedAt: now,
  };
}

/** The Catch's UpdateItem, with the state machine's JSONPath values filled in. */
async function markFailed(matchId: string): Promise<'updated' | 'condition-failed'> {
  const values: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(mark.ExpressionAttributeValues)) {
    values[name] = { S: value.S ?? new Date().toISOString() };
  }
  try {
    await client.send(
      new UpdateItemCommand({
        TableName: infra.env.JOBS_TABLE,
        Key: { pk: { S: 'tenant#acme' }, sk: { S: `match#${matchId}` } },
        ConditionExpression: mark.ConditionExpression,
        UpdateExpression: mark.UpdateExpression,
        ExpressionAttributeNames: mark.ExpressionAttributeNames,
        ExpressionAttributeValues: values,
      }),
    );
    return 'updated';
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return 'condition-failed';
    throw error;
  }
}

describe('the state machine marks a failed match', () => {
  it('a RUNNING match reads back FAILED with code match-failed through the job store', async () => {
    await jobs.create(match('m-running', 'RUNNING'));
    expect(await markFailed('m-running')).toBe('updated');
    expect(await jobs.get('match', 'acme', 'm-running')).toMatchObject({
      status: 'FAILED',
      errorCode: 'match-failed',
    });
  });

  it('a match already released or failed with its own code is left as it is', async () => {
    await jobs.create(match('m-done', 'SUCCEEDED'));
    await jobs.create({ ...match('m-small', 'FAILED'), errorCode: 'list-too-small' });
    expect(await markFailed('m-done')).toBe('condition-failed');
    expect(await markFailed('m-small')).toBe('condition-failed');
    expect(await jobs.get('match', 'acme', 'm-done')).toMatchObject({ status: 'SUCCEEDED' });
    expect(await jobs.get('match', 'acme', 'm-small')).toMatchObject({ errorCode: 'list-too-small' });
  });
});
