/**
 * `onboard demo`: the whole product on one machine, through the HTTP API. Starts a fresh embedded
 * stack, seeds a synthetic partner and a messy synthetic CRM list, hashes the list locally,
 * matches it, prints the segment table and writes the anonymized audience files to ./out/.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { EmbeddedStack } from '../local/embedded-stack.ts';
import { crmList, DEMO_SEGMENTS, partnerMembers } from '../local/synthetic-data.ts';
import type { MatchResult } from '../shared/domain/result/result-schema.ts';
import { ApiClient } from './api-client.ts';
import { downloadResult, runMatch, uploadPartnerAudience } from './flows.ts';
import { renderSegmentTable, renderSummary } from './render.ts';
import { removeScratch, scratchDir } from './scratch.ts';

export interface DemoOptions {
  outDir?: string;
  partnerBase?: number;
  listSize?: number;
  log?: (line: string) => void;
}

export async function runDemo(
  options: DemoOptions = {},
): Promise<{ matchId: string; result: MatchResult; files: string[]; seconds: number }> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  // The demo's own data folder: a fresh stack every run, so the demo never depends on earlier runs.
  // It holds the stack's pepper and, as the stack's temp directory, the shards a match splits a
  // list into: one scratch folder, removed when the demo ends however it ends.
  const dataDir = await scratchDir('onboard-demo-');
  const tmp = join(dataDir, 'tmp');
  await mkdir(tmp);
  const outerTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  let stack: EmbeddedStack | undefined;
  try {
    const { startEmbeddedStack } = await import('../local/embedded-stack.ts');
    stack = await startEmbeddedStack({ dataDir, ephemeral: true });
    log(
      `embedded stack up: API ${stack.apiUrl}, S3 ${stack.s3Endpoint}, DynamoDB ${stack.dynamoEndpoint}  (${elapsed()})`,
    );
    const partnerId = 'northwind-data';
    const advertiserId = 'acme-retail';
    const partner = new ApiClient(stack.apiUrl, stack.token(partnerId, 'partner'));
    const advertiser = new ApiClient(stack.apiUrl, stack.token(advertiserId, 'advertiser'));

    // The partner hashes its members with the google profile (emails here are already normalized).
    const members = partnerMembers((email) => createHash('sha256').update(email).digest('hex'), {
      baseSize: options.partnerBase ?? 200_000,
    });
    log(
      `partner ${partnerId}: uploading ${members.memberships.toLocaleString('en-US')} memberships of ${members.members.toLocaleString('en-US')} people in ${DEMO_SEGMENTS.length} segments`,
    );
    const ingest = await uploadPartnerAudience(partner, {
      partnerId,
      profile: 'google',
      segments: DEMO_SEGMENTS.map(({ segmentId, name, description }) => ({ segmentId, name, description })),
      source: { text: members.csv },
    });
    if (ingest.status !== 'SUCCEEDED' || !ingest.report)
      throw new Error(`partner ingest ${ingest.status}: ${ingest.code} ${ingest.detail}`);
    log(
      `  ingest report: ${ingest.report.rowsRead.toLocaleString('en-US')} rows read, ${ingest.report.accepted.toLocaleString('en-US')} accepted, ${ingest.report.rejected} rejected  (${elapsed()})`,
    );

    const crm = crmList({ size: options.listSize ?? 40_000 });
    log(
      `advertiser ${advertiserId}: hashing a messy CRM export of ${crm.rows.toLocaleString('en-US')} rows locally (google profile), uploading only hashes`,
    );
    const { match, listSummary } = await runMatch(advertiser, {
      partnerId,
      list: { text: crm.csv },
      quiet: true,
    });
    if (listSummary) log(`  ${renderSummary(listSummary).replace(/\n/g, '\n  ')}`);
    if (match.status !== 'SUCCEEDED' || !match.result)
      throw new Error(`match ${match.status}: ${match.code} ${match.detail}`);
    log(`match ${match.matchId} ${match.status.toLowerCase()}  (${elapsed()})\n`);
    log(renderSegmentTable(match.result));

    const outDir = resolve(options.outDir ?? 'out');
    const files = await downloadResult(advertiser, match.matchId, join(outDir, `audience-${match.matchId}`));
    log(`\nanonymized audience files:\n${files.map((f) => `  ${f}`).join('\n')}`);
    const seconds = (performance.now() - started) / 1000;
    log(`demo finished in ${seconds.toFixed(1)} s`);
    return { matchId: match.matchId, result: match.result, files, seconds };
  } finally {
    await stack?.stop();
    if (outerTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outerTmp;
    await removeScratch(dataDir);
  }
}
