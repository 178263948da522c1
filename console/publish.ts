/**
 * `npm run console:build -- --out dist/console [--api-url URL --client-id ID --sign-in-domain URL]`
 * writes the built console (index.html, console/app.js, console/app.css) and its config.json, ready
 * for `aws s3 sync` to the ConsoleBucketName output (docs/deploying.md). Without the three AWS
 * values the config signs in with dev tokens against the same origin.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeConsoleSync } from './build.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'dist/console' },
    'api-url': { type: 'string' },
    'client-id': { type: 'string' },
    'sign-in-domain': { type: 'string' },
  },
});
const out = values.out as string;
writeConsoleSync(out);
const cognito = values['client-id'] && values['sign-in-domain'];
const config = {
  apiUrl: (values['api-url'] ?? '').replace(/\/+$/, ''),
  auth: cognito
    ? { kind: 'cognito', domain: values['sign-in-domain'], clientId: values['client-id'] }
    : { kind: 'dev' },
};
mkdirSync(join(out, 'console'), { recursive: true });
writeFileSync(join(out, 'console', 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
process.stderr.write(`console written to ${out} (${cognito ? 'Cognito sign-in' : 'dev tokens'})\n`);
