/**
 * Every package the code imports is declared in package.json: a bundle or a test must never build
 * only because npm happened to hoist some other package's dependency. Scans every TypeScript and
 * JavaScript source of the repository (type-only imports too: the type checker needs them).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../cdk/handlers.ts';

const SOURCE_DIRS = ['bench', 'bin', 'cdk', 'cli', 'lambdas', 'local', 'shared', 'test', 'types'];
const SOURCE_FILE = /\.(ts|mts|js|mjs)$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return SOURCE_FILE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Bare module specifiers of static imports, re-exports, dynamic imports and require calls. */
function importedSpecifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) found.push(m[1] as string);
  return found;
}

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`), or undefined. */
function packageOf(specifier: string): string | undefined {
  if (/^(\.|\/|#|node:)/.test(specifier)) return undefined;
  const [first, second] = specifier.split('/');
  const name = first?.startsWith('@') ? `${first}/${second}` : (first as string);
  return builtinModules.includes(name) ? undefined : name;
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe('declared dependencies', () => {
  it('declares every package imported anywhere in the code', () => {
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]);
    const undeclared: string[] = [];
    let files = 0;
    for (const dir of SOURCE_DIRS) {
      for (const file of sourceFiles(join(REPO_ROOT, dir))) {
        files++;
        for (const specifier of importedSpecifiers(readFileSync(file, 'utf8'))) {
          const name = packageOf(specifier);
          // Types of an untyped package come from its DefinitelyTyped package (`aws-lambda`).
          const types = `@types/${name?.replace(/^@(.*)\/(.*)$/, '$1__$2')}`;
          if (name && !declared.has(name) && !declared.has(types)) {
            undeclared.push(`${relative(REPO_ROOT, file)}: ${name}`);
          }
        }
      }
    }
    expect(files).toBeGreaterThan(100);
    expect(undeclared).toEqual([]);
  });

  it('reads the import forms the code uses, and ignores builtins, subpath imports and relative paths', () => {
    const source = [
      "import { fromEnv } from '@aws-sdk/credential-provider-env';",
      "import type { AwsCredentialIdentity } from '@aws-sdk/types';",
      "import { CredentialsProviderError } from '@smithy/core/config';",
      "export { z } from 'zod';",
      "import 'fast-check';",
      "const m = await import('s3rver');",
      "const r = require('dynalite');",
      "import { join } from 'node:path';",
      "import { createHash } from 'crypto';",
      "import { x } from '#domain/ids.ts';",
      "import { y } from '../shared/y.ts';",
    ].join('\n');
    expect(importedSpecifiers(source).map(packageOf).filter(Boolean)).toEqual([
      '@aws-sdk/credential-provider-env',
      '@aws-sdk/types',
      '@smithy/core',
      'zod',
      'fast-check',
      's3rver',
      'dynalite',
    ]);
  });

  it('declares the credential chain of the Lambda bundles (cdk/bundling/lambda-credentials.ts)', () => {
    for (const name of [
      '@aws-sdk/credential-provider-env',
      '@aws-sdk/credential-provider-http',
      '@aws-sdk/types',
      '@smithy/core',
    ]) {
      expect(pkg.devDependencies[name] ?? pkg.dependencies[name], name).toMatch(/^\^\d+\.\d+\.\d+$/);
    }
  });
});
