import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyNag } from '../../cdk/nag.ts';
import { type SynthesizedApp, synthForTest } from './synth.ts';

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every `Validations.of(x).acknowledge()` in the tree, as recorded in construct metadata. */
function acknowledgementsIn(root: IConstruct): Acknowledgement[] {
  const out: Acknowledgement[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason });
      }
    }
  }
  return out;
}

/** The packs the app is held to (cdk/nag.ts registers the same two). */
const PACKS = (): NagPack[] => [new AwsSolutionsChecks(), new ServerlessChecks()];

/** Both packs with acknowledgements ignored: every finding, acknowledged or not. */
function allFindings(root: IConstruct) {
  return PACKS().flatMap((checks) => {
    // cdk-nag 3.0.2 consults this private method for every finding.
    (checks as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
    return checks.validateScope(root).violations;
  });
}

const describeViolations = (violations: ReturnType<typeof allFindings>) =>
  violations.map(
    (v) =>
      `${v.ruleName}: ${v.description}\n    at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
  );

let built: SynthesizedApp;
beforeAll(() => {
  // Synthesizes with the pack registered as a validation plugin, as `cdk synth` does.
  built = synthForTest();
});

/** A throwaway app whose cloud assembly folder is removed after the test. */
const scratchDirs: string[] = [];
function scratchApp(): App {
  const outdir = mkdtempSync(join(tmpdir(), 'onboarding-nag-'));
  scratchDirs.push(outdir);
  return new App({ outdir });
}
afterAll(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('cdk-nag AwsSolutions and Serverless', () => {
  it.each(PACKS().map((p) => [p.constructor.name, p] as const))(
    '%s reports nothing unacknowledged on the whole app',
    (_name, pack) => {
      const report = pack.validateScope(built.app);
      expect(describeViolations(report.violations)).toEqual([]);
      expect(report.success).toBe(true);
    },
  );

  it('registers both packs at synth time', () => {
    const scratch = scratchApp();
    const stack = new Stack(scratch, 'Scratch');
    // Compliant with AwsSolutions, but no tracing: only the Serverless pack objects.
    const queue = new sqs.Queue(stack, 'Queue', { enforceSSL: true });
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'scratch queue for this test only',
    });
    Validations.of(queue).acknowledge({
      id: 'Serverless-SQSRedrivePolicy',
      reason: 'scratch queue for this test only',
    });
    new sfn.StateMachine(stack, 'Machine', {
      definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Nothing')),
    });
    applyNag(scratch);
    expect(() => scratch.synth()).toThrow(/Serverless-StepFunctionStateMachineXray/);
  });

  it('runs at synth time: a violation stops the synth (so `cdk deploy` cannot ship one)', () => {
    const scratch = scratchApp();
    new s3.Bucket(new Stack(scratch, 'Scratch'), 'Careless');
    applyNag(scratch);
    expect(() => scratch.synth()).toThrow(/AwsSolutions-S1/);
  });

  it('acknowledges only findings that exist, each with a specific reason', () => {
    const acks = acknowledgementsIn(built.app);
    expect(acks.length).toBeGreaterThan(10);
    const findings = allFindings(built.app);
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^(AwsSolutions-[A-Z]+\d+(\[.+\])?|Serverless-[A-Za-z0-9]+)$/);
      expect(ack.reason.length, `${ack.id} at ${ack.path}: reason too vague`).toBeGreaterThanOrEqual(60);
      const matched = findings.some(
        (v) =>
          v.ruleName === ack.id &&
          v.violatingResources.some(
            (r) => r.constructPath === ack.path || r.constructPath?.startsWith(`${ack.path}/`),
          ),
      );
      expect(matched, `stale acknowledgement ${ack.id} at ${ack.path}`).toBe(true);
    }
  });

  it('does find things when they are wrong: a scratch stack with a careless bucket', () => {
    const scratch = scratchApp();
    const stack = new Stack(scratch, 'Scratch');
    new s3.Bucket(stack, 'Careless', { encryption: s3.BucketEncryption.UNENCRYPTED });
    const violations = new AwsSolutionsChecks().validateScope(scratch).violations.map((v) => v.ruleName);
    expect(violations).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });

  it('lets an acknowledgement silence exactly the acknowledged rule', () => {
    const scratch = scratchApp();
    const stack = new Stack(scratch, 'Scratch');
    const bucket = new s3.Bucket(stack, 'Careless');
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'scratch bucket for this test only',
    });
    const violations = new AwsSolutionsChecks().validateScope(scratch).violations.map((v) => v.ruleName);
    expect(violations).not.toContain('AwsSolutions-S1');
    expect(violations).toContain('AwsSolutions-S10');
  });
});
