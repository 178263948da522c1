/**
 * Bundles one handler exactly as the house function does (HOUSE_ESBUILD_OPTIONS), outside CDK: for
 * the bundle-size test and `npm run bench`.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { HOUSE_ESBUILD_OPTIONS } from './constructs/house-function.ts';
import { handlerEntry, type LambdaHandlerName, REPO_ROOT } from './handlers.ts';

export interface BuiltBundle {
  readonly name: LambdaHandlerName;
  /** The ESM bundle Lambda loads (index.mjs, as NodejsFunction names it). */
  readonly file: string;
  /** Size of the minified bundle, source map excluded. */
  readonly bytes: number;
}

export async function bundleHandler(name: LambdaHandlerName, outdir: string): Promise<BuiltBundle> {
  const dir = join(outdir, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'index.mjs');
  await build({
    ...HOUSE_ESBUILD_OPTIONS,
    mainFields: [...HOUSE_ESBUILD_OPTIONS.mainFields],
    external: [...HOUSE_ESBUILD_OPTIONS.external],
    alias: { ...HOUSE_ESBUILD_OPTIONS.alias },
    entryPoints: [handlerEntry(name)],
    outfile: file,
    absWorkingDir: REPO_ROOT,
    logLevel: 'error',
  });
  return { name, file, bytes: statSync(file).size };
}
