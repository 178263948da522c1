/**
 * Synthesizes the app once per test file, with asset bundling skipped (the bundle test bundles for
 * real), into a temporary cloud assembly that is removed once its templates are read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, type OnboardingApp } from '../../cdk/build-app.ts';

export interface SynthesizedApp extends OnboardingApp {
  readonly statefulTemplate: Template;
  readonly statelessTemplate: Template;
}

export function synthForTest(context: Record<string, unknown> = {}): SynthesizedApp {
  const outdir = mkdtempSync(join(tmpdir(), 'onboarding-cdk-'));
  try {
    const built = buildApp({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
    const assembly = built.app.synth();
    return {
      ...built,
      statefulTemplate: Template.fromJSON(assembly.getStackByName(built.stateful.stackName).template),
      statelessTemplate: Template.fromJSON(assembly.getStackByName(built.stateless.stackName).template),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Runs `use` with a temporary cloud assembly folder, removed afterwards whatever `use` does. */
export function withScratchOutdir<T>(use: (outdir: string) => T): T {
  const outdir = mkdtempSync(join(tmpdir(), 'onboarding-cdk-'));
  try {
    return use(outdir);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
