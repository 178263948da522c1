/**
 * What an operator relies on in the stateless stack: one encrypted, TLS-only alarm topic that every
 * alarm notifies (with the optional e-mail subscription), Lambda throttling retried with backoff in
 * the match state machine, a capped Distributed Map, the vended-logs log group, X-Ray on every
 * function, the per-tenant match limit in the functions' environment, and stage-derived names so
 * two copies share an account.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_TRANSIENT_ERRORS, VENDED_LOGS_PREFIX } from '../../cdk/stateless-stack.ts';
import { MATCH_TIMEOUT_SECONDS } from '../../shared/infra/definitions.ts';
import { type SynthesizedApp, synthForTest } from './synth.ts';

// biome-ignore lint/suspicious/noExplicitAny: template JSON
type Json = any;

const EXISTING_TOPIC = 'arn:aws:sns:eu-west-1:123456789012:pager';

let app: SynthesizedApp;
let resources: Record<string, Json>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

beforeAll(() => {
  app = synthForTest({
    stage: 'prod',
    alarmEmail: 'oncall@example.com',
    alarmTopicArn: EXISTING_TOPIC,
    maxShardConcurrency: 6,
    maxRunningMatchesPerTenant: 4,
  });
  resources = app.statelessTemplate.toJSON().Resources;
});

describe('alarm notifications', () => {
  it('has one alarm topic, encrypted with its own rotating key and refusing plain HTTP', () => {
    const [[topicId, topic]] = ofType('AWS::SNS::Topic') as [[string, Json]];
    const keyId = topic.Properties.KmsMasterKeyId['Fn::GetAtt'][0];
    expect(resources[keyId]).toMatchObject({
      Type: 'AWS::KMS::Key',
      Properties: { EnableKeyRotation: true },
    });
    // CloudWatch may use the key to publish, for this account only.
    expect(resources[keyId].Properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      }),
    );
    const [[, policy]] = ofType('AWS::SNS::TopicPolicy') as [[string, Json]];
    expect(policy.Properties.Topics).toEqual([{ Ref: topicId }]);
    expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('subscribes the alarmEmail address', () => {
    const [[topicId]] = ofType('AWS::SNS::Topic') as [[string, Json]];
    app.statelessTemplate.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: topicId },
    });
  });

  it('makes every alarm notify the topic and the existing alarmTopicArn', () => {
    const [[topicId]] = ofType('AWS::SNS::Topic') as [[string, Json]];
    const alarms = ofType('AWS::CloudWatch::Alarm');
    // 8 functions x (errors, throttles), 4 dead-letter queues, failed and timed-out matches and
    // ingests, the schedule's failed invocations, API 5xx.
    expect(alarms.length).toBe(8 * 2 + 4 + 6);
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties.AlarmActions, id).toEqual([{ Ref: topicId }, EXISTING_TOPIC]);
    }
  });

  it('subscribes nothing and notifies only its own topic without the optional settings', () => {
    const plain = synthForTest().statelessTemplate;
    plain.resourceCountIs('AWS::SNS::Subscription', 0);
    const topicId = Object.keys(plain.findResources('AWS::SNS::Topic'))[0];
    for (const [id, alarm] of Object.entries(plain.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions, id).toEqual([{ Ref: topicId }]);
    }
  });
});

describe('match state machine under load', () => {
  let definition: Json;
  let stateMachine: Json;
  beforeAll(() => {
    [[, stateMachine]] = ofType('AWS::StepFunctions::StateMachine').filter(([id]) =>
      id.startsWith('MatchStateMachine'),
    ) as [[string, Json]];
    const parts = stateMachine.Properties.DefinitionString['Fn::Join'][1] as unknown[];
    definition = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
  });

  const tasks = (): [string, Json][] => {
    const out: [string, Json][] = [];
    const visit = (states: Record<string, Json>) => {
      for (const [name, state] of Object.entries(states)) {
        if (state.Type === 'Task' && String(state.Resource).includes('lambda:invoke'))
          out.push([name, state]);
        for (const branch of state.Branches ?? []) visit(branch.States);
        if (state.ItemProcessor) visit(state.ItemProcessor.States);
      }
    };
    visit(definition.States);
    return out;
  };

  it('retries throttled and failed Lambda invokes with exponential backoff and jitter in every task', () => {
    expect(
      tasks()
        .map(([name]) => name)
        .sort(),
    ).toEqual(['MatchOneShard', 'ReduceTallies', 'SplitList']);
    for (const [name, task] of tasks()) {
      expect(task.Retry, name).toEqual([
        {
          ErrorEquals: [...LAMBDA_TRANSIENT_ERRORS],
          IntervalSeconds: 2,
          BackoffRate: 2,
          MaxAttempts: 6,
          MaxDelaySeconds: 60,
          JitterStrategy: 'FULL',
        },
      ]);
    }
    expect(LAMBDA_TRANSIENT_ERRORS).toEqual(
      expect.arrayContaining([
        'Lambda.TooManyRequestsException',
        'Lambda.ServiceException',
        'Lambda.SdkClientException',
      ]),
    );
  });

  it('caps the shards of one match running at once (maxShardConcurrency) and times out a match', () => {
    const branch = definition.States[definition.StartAt].Branches[0];
    expect(branch.States.Shards.MaxConcurrency).toBe(6);
    expect(definition.TimeoutSeconds).toBe(MATCH_TIMEOUT_SECONDS);
  });

  it('logs to a log group under /aws/vendedlogs/states/, named after the stage', () => {
    const logGroupId =
      stateMachine.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn[
        'Fn::GetAtt'
      ][0];
    expect(resources[logGroupId].Properties.LogGroupName).toBe(
      `${VENDED_LOGS_PREFIX}AudienceOnboarding-prod-Stateless/match`,
    );
    expect(stateMachine.Properties.TracingConfiguration).toEqual({ Enabled: true });
  });
});

describe('functions', () => {
  it('traces every function with X-Ray and tells every one the per-tenant match limit', () => {
    const functions = ofType('AWS::Lambda::Function').filter(
      ([id]) => !id.startsWith('BucketNotificationsHandler'),
    );
    expect(functions).toHaveLength(8);
    for (const [id, fn] of functions) {
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Environment.Variables.MAX_RUNNING_MATCHES, id).toBe('4');
    }
  });
});

describe('stages', () => {
  it('derives stack names and every export from the stage, so two copies share an account', () => {
    expect(app.stateful.stackName).toBe('AudienceOnboarding-prod-Stateful');
    expect(app.stateless.stackName).toBe('AudienceOnboarding-prod-Stateless');
    const dev = synthForTest({ stage: 'dev' });
    const exportsOf = (s: SynthesizedApp) =>
      Object.values(s.statefulTemplate.toJSON().Outputs as Record<string, Json>)
        .map((o) => o.Export?.Name)
        .filter(Boolean) as string[];
    const prod = exportsOf(app);
    expect(prod.length).toBeGreaterThan(10);
    for (const name of prod) expect(name).toMatch(/^AudienceOnboarding-prod-Stateful-/);
    for (const name of exportsOf(dev)) expect(prod).not.toContain(name);
    expect(JSON.stringify(resources)).not.toContain('AudienceOnboarding-dev-');
  });
});
