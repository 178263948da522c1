/**
 * The one infra test that really bundles: every handler (LAMBDA_HANDLERS, maintenance included),
 * with the house esbuild options, must stay under 1 MB minified (the performance bars in the README). Load-and-init time is measured by
 * `npm run bench` (bench/bundles.ts), never as a timed test.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type BuiltBundle, bundleHandler } from '../../cdk/bundle.ts';
import { ESM_REQUIRE_BANNER } from '../../cdk/constructs/house-function.ts';
import { handlerEntry, LAMBDA_HANDLERS } from '../../cdk/handlers.ts';

const MAX_BUNDLE_BYTES = 1024 * 1024;
const outdir = mkdtempSync(join(tmpdir(), 'onboarding-bundles-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('Lambda bundles', () => {
  it.each(LAMBDA_HANDLERS)('%s bundles as ESM under 1 MB minified', { timeout: 120_000 }, async (name) => {
    expect(existsSync(handlerEntry(name)), `lambdas/${name}.ts is missing`).toBe(true);
    const bundle: BuiltBundle = await bundleHandler(name, outdir);
    expect(bundle.bytes, `${name}: ${(bundle.bytes / 1024).toFixed(0)} KiB`).toBeLessThan(MAX_BUNDLE_BYTES);
    const code = readFileSync(bundle.file, 'utf8');
    expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*\bas handler\b|export\s*\{[^}]*\bhandler\b/);
    expect(existsSync(`${bundle.file}.map`)).toBe(true);
    // The Node default credential chain (SSO, profiles, web identity...) is swapped out (cdk/bundling/lambda-credentials.ts).
    expect(code).not.toContain('defaultProvider::fromSSO');
  });
});
