/**
 * Runs a bench script in its own Node process, so its peak RSS and its heap are its own (nothing
 * left by the benches before it), by default under a Lambda-sized heap ceiling (on a 24 GB machine V8 would otherwise grow lazily far past what the work needs, and
 * the peak RSS would measure V8's patience, not the pipeline). The script prints its result as the
 * last line of stdout, as JSON.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(HERE);

/**
 * `heapMb`: the child's old-space ceiling (320 MB, a Lambda-sized heap, unless given); null: V8's
 * own default, for a bench that measures time and holds a large data set (match-memory).
 */
export function runBenchChild<T>(
  script: string,
  args: readonly string[],
  { heapMb = 320 }: { heapMb?: number | null } = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const heap = heapMb === null ? [] : [`--max-old-space-size=${heapMb}`];
    const child = spawn(process.execPath, [...heap, '--import', 'tsx', join(HERE, script), ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const name = script.replace(/\.ts$/, '');
      if (code !== 0) return reject(new Error(`${name} exited ${code}: ${err.slice(-2000)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch (error) {
        reject(new Error(`${name} printed no result: ${String(error)} ${err.slice(-2000)}`));
      }
    });
  });
}
