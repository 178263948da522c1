/**
 * The CDK app: `npm run synth` (tsx cdk/app.ts) or `npx cdk deploy --all -c minSegmentSize=80`.
 * Writes both templates to cdk.out/ with no AWS credentials.
 */
import { join } from 'node:path';
import { buildApp } from './build-app.ts';
import { REPO_ROOT } from './handlers.ts';
import { DeployContextError } from './privacy-context.ts';

try {
  // The CDK CLI passes CDK_OUTDIR; run directly (npm run synth), the app writes to ./cdk.out too
  // instead of the temporary directory an App defaults to.
  const outdir = process.env.CDK_OUTDIR ? undefined : join(REPO_ROOT, 'cdk.out');
  const { app } = buildApp({ outdir });
  const assembly = app.synth();
  if (!process.env.CDK_OUTDIR) {
    for (const stack of assembly.stacks) console.log(`${stack.stackName}: ${stack.templateFullPath}`);
  }
} catch (error) {
  if (error instanceof DeployContextError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
