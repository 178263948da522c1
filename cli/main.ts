/** The `onboard` command line. `onboard --help` and `onboard <command> --help` document every flag. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isDomainError } from '../shared/domain/errors.ts';
import {
  DEFAULT_ENCODING,
  type Encoding,
  type IdentifierKind,
  type Profile,
} from '../shared/domain/model.ts';
import { ApiError } from './api-client.ts';
import { type ConnectionFlags, connect } from './connection.ts';
import { downloadResult, type MatchView, runMatch, uploadPartnerAudience, waitForMatch } from './flows.ts';
import { runHashCommand } from './hash-command.ts';
import { renderIngestReport, renderSegmentTable, renderSummary } from './render.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command('onboard')
  .description(
    'Privacy-safe audience onboarding: hash identifiers locally, match them, get k-anonymous aggregates.',
  )
  .showHelpAfterError();

const connection = (cmd: Command) =>
  cmd
    .option('--api-url <url>', 'API base URL (default: ONBOARD_API_URL, else the embedded stack)')
    .option(
      '--token <token>',
      'bearer token (default: ONBOARD_TOKEN, else a dev token of the embedded stack)',
    )
    .option('--tenant <id>', 'embedded stack only: act as this dev tenant');

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

program
  .command('hash')
  .description('Normalize and hash identifiers from stdin to stdout, with no network. Summary on stderr.')
  .addOption(
    new Option('--profile <profile>', 'normalization profile')
      .choices(['basic', 'google', 'uid2'])
      .default('basic'),
  )
  .addOption(
    new Option(
      '--kind <kind>',
      'identifier kind of a line (default email); in a CSV, hash only this kind (default: every email and phone column)',
    ).choices(['email', 'phone']),
  )
  .addOption(
    new Option('--encoding <encoding>', 'hash encoding (default: hex, base64 for uid2)').choices([
      'hex',
      'base64',
    ]),
  )
  .option('--region <code>', 'default region for phone numbers without a country code', 'US')
  .option('--column <name>', 'CSV column to hash (default: a known header such as email or phone)')
  .action(
    async (o: {
      profile: Profile;
      kind?: IdentifierKind;
      encoding?: Encoding;
      region: string;
      column?: string;
    }) => {
      const summary = await runHashCommand(
        {
          profile: o.profile,
          kind: o.kind,
          encoding: o.encoding ?? DEFAULT_ENCODING[o.profile],
          region: o.region.toUpperCase() as never,
          ...(o.column ? { column: o.column } : {}),
        },
        process.stdin,
        process.stdout,
      );
      process.stderr.write(`${renderSummary(summary)}\n`);
    },
  );

program
  .command('dev')
  .description('Run the embedded stack (s3rver, dynalite, the handlers, a local API) until interrupted')
  .option('--port <port>', 'API port (default: a free one)', positiveInt)
  .option('--data-dir <dir>', 'where data is kept', '.onboard')
  .action(async (o: { port?: number; dataDir: string }) => {
    const { startEmbeddedStack } = await import('../local/embedded-stack.ts');
    const stack = await startEmbeddedStack({ dataDir: o.dataDir, ...(o.port ? { port: o.port } : {}) });
    const lines = [
      'embedded stack running',
      `  API       ${stack.apiUrl}/v1   (OpenAPI: ${stack.apiUrl}/v1/openapi.json)`,
      `  S3        ${stack.s3Endpoint}`,
      `  DynamoDB  ${stack.dynamoEndpoint}`,
      `  data      ${stack.dataDir}`,
      '  dev tokens (Authorization: Bearer <token>):',
      ...stack.tokens.all().map((t) => `    ${t.role.padEnd(10)} ${t.tenantId.padEnd(16)} ${t.token}`),
      'the CLI in this folder uses them automatically; Ctrl-C stops the stack',
    ];
    process.stderr.write(`${lines.join('\n')}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await stack.stop();
  });

program
  .command('demo')
  .description(
    'Start a fresh embedded stack, seed a partner and a messy CRM list, match, print, write ./out/',
  )
  .option('--out <dir>', 'where the audience files go', 'out')
  .option('--partner-base <n>', 'people in the synthetic partner base', positiveInt, 200_000)
  .option('--list-size <n>', 'people in the synthetic CRM list', positiveInt, 40_000)
  .action(async (o: { out: string; partnerBase: number; listSize: number }) => {
    const { runDemo } = await import('./demo.ts');
    await runDemo({ outDir: o.out, partnerBase: o.partnerBase, listSize: o.listSize });
  });

const partner = program.command('partner').description('Partner commands');
connection(
  partner
    .command('upload')
    .description(
      'Upload a members file (email_sha256,phone_sha256,segment_id with a header; sha256,segment_id for emails) replacing the declared segments',
    )
    .requiredOption('--partner <id>', 'your partner id')
    .requiredOption(
      '--file <path>',
      'members file: CSV with a header of identifier columns (email_sha256, phone_sha256) and segment_id, one row a person in a segment',
    )
    .requiredOption('--segments <path>', 'JSON array of {segmentId, name, description}')
    .addOption(
      new Option('--profile <profile>', 'how the members were normalized')
        .choices(['basic', 'google', 'uid2'])
        .default('basic'),
    )
    .option('--json', 'print the ingest report as JSON'),
).action(
  async (
    o: ConnectionFlags & {
      partner: string;
      file: string;
      segments: string;
      profile: Profile;
      json?: boolean;
    },
  ) => {
    const client = connect({ ...o, tenant: o.tenant ?? o.partner }, 'partner');
    const segments = JSON.parse(readFileSync(o.segments, 'utf8'));
    const report = await uploadPartnerAudience(client, {
      partnerId: o.partner,
      profile: o.profile,
      segments,
      source: { file: o.file },
    });
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderIngestReport(report)}\n`);
    if (report.status !== 'SUCCEEDED') process.exitCode = 1;
  },
);

connection(program.command('partners').description('List partners and their segment catalogs')).action(
  async (o: ConnectionFlags) => {
    const { partners } = await connect(o, 'advertiser').get<{
      partners: {
        partnerId: string;
        profile: string;
        segments: { segmentId: string; name: string; size: number }[];
      }[];
    }>('/v1/partners');
    for (const p of partners) {
      process.stdout.write(`${p.partnerId} (${p.profile})\n`);
      for (const s of p.segments)
        process.stdout.write(
          `  ${s.segmentId.padEnd(24)} ${s.name.padEnd(28)} ${s.size.toLocaleString('en-US')}\n`,
        );
    }
  },
);

connection(
  program
    .command('match')
    .description('Hash a list locally, upload the hashes, match against a partner, wait, download the result')
    .requiredOption('--partner <id>', 'partner to match against')
    .requiredOption('--list <path>', 'the list: one identifier a line, or CSV with a header')
    .option(
      '--min-segment-size <k>',
      'raise k for this match (never below the deployment minimum)',
      positiveInt,
    )
    .option('--out <file>', 'base path of the downloaded files (.csv and .json are added)')
    .addOption(
      new Option(
        '--kind <kind>',
        'identifier kind of a line (default email); in a CSV, match on this kind only (default: every email and phone column)',
      ).choices(['email', 'phone']),
    )
    .option('--column <name>', 'CSV column holding the identifier')
    .option('--region <code>', 'default phone region', 'US')
    .option('--raw', 'upload the raw list to be hashed server-side (the raw object is deleted at once)'),
).action(
  async (
    o: ConnectionFlags & {
      partner: string;
      list: string;
      minSegmentSize?: number;
      out?: string;
      kind?: IdentifierKind;
      column?: string;
      region: string;
      raw?: boolean;
    },
  ) => {
    const client = connect(o, 'advertiser');
    const { match, listSummary } = await runMatch(client, {
      partnerId: o.partner,
      list: { file: o.list },
      ...(o.kind ? { kind: o.kind } : {}),
      region: o.region,
      ...(o.column ? { column: o.column } : {}),
      ...(o.minSegmentSize ? { minSegmentSize: o.minSegmentSize } : {}),
      ...(o.raw ? { raw: true } : {}),
    });
    if (listSummary) process.stderr.write(`${renderSummary(listSummary)}\n`);
    printMatch(match);
    if (match.status === 'SUCCEEDED') {
      const files = await downloadResult(client, match.matchId, o.out ?? `out/audience-${match.matchId}`);
      process.stderr.write(`wrote ${files.join(', ')}\n`);
    } else process.exitCode = 1;
  },
);

connection(
  program
    .command('matches')
    .description('List your matches, newest first')
    .option('--all', 'every page, not just the newest 50'),
).action(async (o: ConnectionFlags & { all?: boolean }) => {
  const client = connect(o, 'advertiser');
  let cursor: string | undefined;
  do {
    const page = await client.get<{ matches: MatchView[]; nextCursor?: string }>(
      `/v1/matches${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    for (const m of page.matches) {
      process.stdout.write(
        `${m.matchId}  ${m.status.padEnd(9)} ${m.partnerId.padEnd(16)} ${m.createdAt}${m.code ? `  ${m.code}` : ''}\n`,
      );
    }
    cursor = page.nextCursor;
    if (cursor && !o.all) process.stderr.write('(more: onboard matches --all)\n');
  } while (cursor && o.all);
});

connection(
  program
    .command('status')
    .description('Show a match')
    .argument('<matchId>')
    .option('--wait', 'wait until it finishes'),
).action(async (matchId: string, o: ConnectionFlags & { wait?: boolean }) => {
  const client = connect(o, 'advertiser');
  const match = o.wait
    ? await waitForMatch(client, matchId)
    : await client.get<MatchView>(`/v1/matches/${encodeURIComponent(matchId)}`);
  printMatch(match);
});

connection(
  program
    .command('download')
    .description('Download the anonymized audience files (CSV and JSON) of a match')
    .argument('<matchId>')
    .option('--out <file>', 'base path (.csv and .json are added)'),
).action(async (matchId: string, o: ConnectionFlags & { out?: string }) => {
  const files = await downloadResult(connect(o, 'advertiser'), matchId, o.out ?? `out/audience-${matchId}`);
  process.stdout.write(`${files.join('\n')}\n`);
});

const pepper = program.command('pepper').description('Operator: pepper rotation');
connection(
  pepper
    .command('rotate')
    .description('Embedded stack: add a new current key to the local pepper file, then re-key every partner')
    .option('--data-dir <dir>', 'the embedded stack data folder', '.onboard')
    .option('--key-id <id>', 'id of the new key (default: k<n+1>)'),
).action(async (o: ConnectionFlags & { dataDir: string; keyId?: string }) => {
  const { rotatePepperFile } = await import('../shared/adapters/pepper.ts');
  const ring = rotatePepperFile(join(resolve(o.dataDir), 'pepper.json'), o.keyId);
  process.stderr.write(`pepper: new current key ${ring.current}; re-keying partners in the background\n`);
  const started = await connect(o, 'admin').post<{ keyId: string }>('/v1/admin/pepper/rekey', {});
  process.stdout.write(`${JSON.stringify(started)}\n`);
});
connection(
  pepper
    .command('rekey')
    .description('Re-key every partner under the current key (in AWS, after adding it to the pepper secret)'),
).action(async (o: ConnectionFlags) => {
  const started = await connect(o, 'admin').post<{ keyId: string }>('/v1/admin/pepper/rekey', {});
  process.stdout.write(`${JSON.stringify(started)}\n`);
});

function printMatch(match: MatchView) {
  process.stdout.write(
    `match ${match.matchId}: ${match.status}${match.code ? ` (${match.code}: ${match.detail})` : ''}\n`,
  );
  if (match.result) process.stdout.write(`${renderSegmentTable(match.result)}\n`);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ApiError || isDomainError(error)) {
    process.stderr.write(
      `onboard: ${error instanceof ApiError ? `${error.code}: ${error.detail}` : `${error.code}: ${error.detail}`}\n`,
    );
  } else {
    process.stderr.write(`onboard: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = 1;
}
