/**
 * Builds the web console with esbuild, in memory: the page, its stylesheet and one ES module that
 * bundles the console with the domain modules it hashes with (shared/domain). Used by the embedded
 * stack (served at its root), the CDK app (deployed to the console bucket) and `npm run bench`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, buildSync } from 'esbuild';

export const CONSOLE_DIR = dirname(fileURLToPath(import.meta.url));

export interface ConsoleAsset {
  contentType: string;
  body: Uint8Array;
}

/** Paths as served: the page at `/` (and `/console/`), everything else under `/console/`. */
export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset>;

export const CONSOLE_PAGE = '/index.html';

const options = (minify: boolean): BuildOptions & { write: false } => ({
  entryPoints: [join(CONSOLE_DIR, 'src/main.ts')],
  // Aliases and packages resolve from the repository, whatever directory the CLI runs in.
  absWorkingDir: dirname(CONSOLE_DIR),
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome111', 'firefox115', 'safari16'],
  minify,
  legalComments: 'none',
  // parse-list picks csv-parse's Node build where Buffer exists; a browser has only the other.
  alias: { 'csv-parse/sync': 'csv-parse/browser/esm/sync' },
  outfile: 'app.js',
  logLevel: 'error',
});

function assetsOf(outputFiles: readonly { path: string; contents: Uint8Array }[]): ConsoleAssets {
  const js = outputFiles.find((f) => f.path.endsWith('app.js'));
  if (!js) throw new Error('console build: no app.js');
  const assets = new Map<string, ConsoleAsset>([
    [
      CONSOLE_PAGE,
      { contentType: 'text/html; charset=utf-8', body: readFileSync(join(CONSOLE_DIR, 'index.html')) },
    ],
    ['/console/app.js', { contentType: 'text/javascript; charset=utf-8', body: js.contents }],
    [
      '/console/app.css',
      { contentType: 'text/css; charset=utf-8', body: readFileSync(join(CONSOLE_DIR, 'app.css')) },
    ],
  ]);
  return assets;
}

export async function buildConsole(opts: { minify?: boolean } = {}): Promise<ConsoleAssets> {
  return assetsOf((await build(options(opts.minify ?? true))).outputFiles);
}

/** Writes the built console into `dir` as the bucket serves it (for the CDK deployment). */
export function writeConsoleSync(dir: string): void {
  for (const [path, asset] of assetsOf(buildSync(options(true)).outputFiles)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, asset.body);
  }
}
