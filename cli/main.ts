/**
 * The `onboard` command line. `onboard --help` and `onboard <command> --help` document every flag.
 *
 * It never crashes: a failure is one line on stderr and a nonzero status (1, or 2 for a command
 * line that cannot run as typed), a closed stdout (`onboard partners | head`) ends quietly, and
 * scratch folders go on every way out, Ctrl-C included. Every command that prints a result or a
 * list takes `--json`.
 */
import { join, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isSupportedCountry } from 'libphonenumber-js/min';
import {
  DEFAULT_ENCODING,
  type Encoding,
  type IdentifierKind,
  type Profile,
} from '../shared/domain/model.ts';
import { type ConnectionFlags, connect } from './connection.ts';
import { type EraseOptions, renderErase, runErase } from './erase-command.ts';
import { EXIT, reportFailure } from './failure.ts';
import { downloadResult, type MatchView, runMatch, uploadPartnerAudience, waitForMatch } from './flows.ts';
import { runHashCommand } from './hash-command.ts';
import { assertReadable, readSegmentsFile } from './input-files.ts';
import { addLoginCommands } from './login-command.ts';
import { prepareMembersFile } from './partner-file.ts';
import {
  renderIngestReport,
  renderMatches,
  renderPartners,
  renderSegmentTable,
  renderSummary,
} from './render.ts';
import { removeAllScratch, removeScratchOnExit } from './scratch.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const say = (line: string) => process.stderr.write(`onboard: ${line}\n`);
const out = (text: string) => process.stdout.write(`${text}\n`);
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));

// The reader of stdout went away (`onboard partners | head`): nobody is left to tell, so end
// quietly and successfully, as a pipeline expects; scratch folders go as on any exit.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  removeAllScratch();
  if (error.code === 'EPIPE') process.exit(0);
  reportFailure(error);
  process.exit(EXIT.failure);
});
process.stderr.on('error', () => {
  // A closed stderr: the work goes on, its messages have nowhere to go.
});
// The last net: whatever escaped the commands is still one line, never a trace.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => {
    removeAllScratch();
    reportFailure(error);
    process.exit(EXIT.failure);
  });
}

const program = new Command('onboard')
  .description(
    'Privacy-safe audience onboarding: hash identifiers locally, match them, get k-anonymous aggregates.',
  )
  .configureOutput({
    outputError: (text, write) =>
      write(
        `onboard: ${text
          .replace(/^error: /, '')
          .replace(/\s*\n\s*/g, ' ')
          .trim()} (--help lists the commands and flags)\n`,
      ),
  })
  .exitOverride()
  .hook('preAction', (_, action) => {
    // `dev` stops its stack gracefully on a signal; every other command cleans up and exits.
    if (action.name() !== 'dev') removeScratchOnExit(say);
  });

const connection = (cmd: Command) =>
  cmd
    .option('--api-url <url>', 'API base URL (default: ONBOARD_API_URL, else the embedded stack)', httpUrl)
    .option(
      '--token <token>',
      'bearer token (default: ONBOARD_TOKEN, else the `onboard login` session of the API URL, else a dev token of the embedded stack)',
    )
    .option('--tenant <id>', 'embedded stack only: act as this dev tenant');

const jsonFlag = (what: string) => new Option('--json', `print ${what} as JSON`);

addLoginCommands(program);

function shareOf(v: string) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('must be a number from 0 to 1 (a share of the rows, e.g. 0.05).');
  return n;
}

function positiveInt(v: string) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function region(v: string) {
  const code = v.toUpperCase();
  if (!isSupportedCountry(code))
    throw new InvalidArgumentError('expected a two-letter country code such as US, GB or DE');
  return code;
}

function httpUrl(v: string) {
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    // Reported below.
  }
  if (!url || !/^https?:$/.test(url.protocol))
    throw new InvalidArgumentError('expected an http or https URL such as http://127.0.0.1:3000');
  return v;
}

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
  .option('--region <code>', 'default region for phone numbers without a country code', region, 'US')
  .option('--column <name>', 'CSV column to hash (default: a known header such as email or phone)')
  .addOption(jsonFlag('the summary (on stderr: stdout holds the hashes)'))
  .action(
    async (o: {
      profile: Profile;
      kind?: IdentifierKind;
      encoding?: Encoding;
      region: string;
      column?: string;
      json?: boolean;
    }) => {
      const summary = await runHashCommand(
        {
          profile: o.profile,
          kind: o.kind,
          encoding: o.encoding ?? DEFAULT_ENCODING[o.profile],
          region: o.region as never,
          ...(o.column ? { column: o.column } : {}),
        },
        process.stdin,
        process.stdout,
      );
      process.stderr.write(o.json ? `${JSON.stringify(summary)}\n` : `${renderSummary(summary)}\n`);
    },
  );

program
  .command('dev')
  .description('Run the embedded stack (s3rver, dynalite, the handlers, a local API) until interrupted')
  .option('--port <port>', 'API port (default: a free one)', positiveInt)
  .option('--data-dir <dir>', 'where data is kept', '.onboard')
  .addOption(jsonFlag('the URLs and dev tokens (on stdout)'))
  .action(async (o: { port?: number; dataDir: string; json?: boolean }) => {
    const { consoleLines, startEmbeddedStack } = await import('../local/embedded-stack.ts');
    const stack = await startEmbeddedStack({ dataDir: o.dataDir, ...(o.port ? { port: o.port } : {}) });
    if (o.json) {
      printJson({
        apiUrl: stack.apiUrl,
        s3Endpoint: stack.s3Endpoint,
        dynamoEndpoint: stack.dynamoEndpoint,
        dataDir: stack.dataDir,
        tokens: stack.tokens.all(),
      });
    } else {
      const lines = [
        'embedded stack running',
        ...consoleLines(stack),
        `  API       ${stack.apiUrl}/v1   (OpenAPI: ${stack.apiUrl}/v1/openapi.json)`,
        `  S3        ${stack.s3Endpoint}`,
        `  DynamoDB  ${stack.dynamoEndpoint}`,
        `  data      ${stack.dataDir}`,
        '  dev tokens (Authorization: Bearer <token>):',
        ...stack.tokens.all().map((t) => `    ${t.role.padEnd(10)} ${t.tenantId.padEnd(16)} ${t.token}`),
        'the CLI in this folder uses them automatically; Ctrl-C stops the stack',
      ];
      process.stderr.write(`${lines.join('\n')}\n`);
    }
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
  .addOption(jsonFlag('the match result and the files written (the narration goes to stderr)'))
  .action(async (o: { out: string; partnerBase: number; listSize: number; json?: boolean }) => {
    const { runDemo } = await import('./demo.ts');
    const demo = await runDemo({
      outDir: o.out,
      partnerBase: o.partnerBase,
      listSize: o.listSize,
      ...(o.json ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
    });
    if (o.json) printJson(demo);
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
      'members file: CSV with a header of identifier columns and segment_id, one row a person in a segment; hashed columns (email_sha256, phone_sha256) are uploaded as they are, raw ones (email, phone, as CRM exports name them) are hashed here first',
    )
    .requiredOption('--segments <path>', 'JSON array of {segmentId, name, description}')
    .addOption(
      new Option('--profile <profile>', 'how the members were normalized')
        .choices(['basic', 'google', 'uid2'])
        .default('basic'),
    )
    .option('--dry-run', 'read and report only: nothing is written, published or spent')
    .option(
      '--max-rejected <share>',
      'the most rows the ingest may reject (0 to 1) before it fails and changes nothing; default 0.1',
      shareOf,
    )
    .addOption(jsonFlag('the ingest report')),
).action(
  async (
    o: ConnectionFlags & {
      partner: string;
      file: string;
      segments: string;
      profile: Profile;
      dryRun?: boolean;
      maxRejected?: number;
      json?: boolean;
    },
  ) => {
    // Both files are checked before anything is declared or uploaded.
    const segments = await readSegmentsFile(o.segments);
    await assertReadable(o.file, 'the members file');
    const client = connect({ ...o, tenant: o.tenant ?? o.partner }, 'partner');
    // A raw export (email, phone columns) is hashed here first; only hashes are uploaded.
    const members = await prepareMembersFile(o.file, { profile: o.profile });
    if (members.hashed) {
      const h = members.hashed;
      say(
        `hashed locally with the ${o.profile} profile: ${h.rows.toLocaleString('en-US')} rows, ${h.hashed.email.toLocaleString('en-US')} emails and ${h.hashed.phone.toLocaleString('en-US')} phones (${(h.invalid.email + h.invalid.phone).toLocaleString('en-US')} invalid, left empty)`,
      );
    }
    let report: Awaited<ReturnType<typeof uploadPartnerAudience>>;
    try {
      report = await uploadPartnerAudience(client, {
        partnerId: o.partner,
        profile: o.profile,
        segments,
        source: { file: members.file },
        ...(o.maxRejected !== undefined ? { maxRejectedShare: o.maxRejected } : {}),
        ...(o.dryRun ? { dryRun: true } : {}),
      });
    } finally {
      await members.done();
    }
    if (o.json) printJson(report);
    else out(renderIngestReport(report));
    if (report.status !== 'SUCCEEDED') process.exitCode = EXIT.failure;
  },
);

connection(
  partner
    .command('erase')
    .description(
      'Remove people from every segment by any of their identifiers (an opt-out or erasure request); raw emails and phones are hashed here, only hashes are sent',
    )
    .requiredOption('--partner <id>', 'your partner id')
    .option(
      '--file <path>',
      'CSV with a header naming email and/or phone columns, raw (as CRMs name them) or hashed (email_sha256, phone_sha256)',
    )
    .option('--email <address...>', 'an email to erase (repeatable)')
    .option('--phone <number...>', 'a phone number to erase (repeatable)')
    .addOption(
      new Option('--profile <profile>', "how to hash (default: the partner's catalog profile)").choices([
        'basic',
        'google',
        'uid2',
      ]),
    )
    .option('--region <code>', 'default region for phone numbers without a country code', region, 'US')
    .addOption(jsonFlag('what was erased')),
).action(async (o: ConnectionFlags & EraseOptions & { json?: boolean }) => {
  const client = connect({ ...o, tenant: o.tenant ?? o.partner }, 'partner');
  const summary = await runErase(client, o);
  if (o.json) printJson(summary);
  else out(renderErase(summary));
});

connection(
  partner
    .command('delete-segment')
    .description(
      'Delete a segment: it leaves the catalog at once; its members are swept once running matches are done (audited)',
    )
    .argument('<segmentId>')
    .requiredOption('--partner <id>', 'your partner id')
    .addOption(jsonFlag('the answer')),
).action(async (segmentId: string, o: ConnectionFlags & { partner: string; json?: boolean }) => {
  const client = connect({ ...o, tenant: o.tenant ?? o.partner }, 'partner');
  const answer = await client.call('deleteSegment', { params: { id: o.partner, segmentId } });
  if (o.json) printJson(answer);
  else
    out(`segment ${segmentId} deleted from ${o.partner}; its members are swept by ${answer.membersPurgedBy}`);
});

connection(
  program
    .command('partners')
    .description('List partners and their segment catalogs')
    .addOption(jsonFlag('the catalog')),
).action(async (o: ConnectionFlags & { json?: boolean }) => {
  const catalog = await connect(o, 'advertiser').call('listPartners');
  if (o.json) printJson(catalog);
  else if (catalog.partners.length === 0) say('no partners yet.');
  else out(renderPartners(catalog.partners));
});

connection(
  program
    .command('match')
    .description('Hash a list locally, upload the hashes, match against a partner, wait, download the result')
    .requiredOption('--partner <id>', 'partner to match against')
    .requiredOption('--list <path>', 'the list: one identifier a line, or CSV with a header; - for stdin')
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
    .option('--region <code>', 'default phone region', region, 'US')
    .option('--raw', 'upload the raw list to be hashed server-side (the raw object is deleted at once)')
    .addOption(jsonFlag('the match, its result and the files written')),
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
      json?: boolean;
    },
  ) => {
    const fromStdin = o.list === '-';
    if (!fromStdin) await assertReadable(o.list, 'the list');
    const client = connect(o, 'advertiser');
    const { match, listSummary } = await runMatch(client, {
      partnerId: o.partner,
      list: fromStdin ? { stream: process.stdin } : { file: o.list },
      ...(o.kind ? { kind: o.kind } : {}),
      region: o.region,
      ...(o.column ? { column: o.column } : {}),
      ...(o.minSegmentSize ? { minSegmentSize: o.minSegmentSize } : {}),
      ...(o.raw ? { raw: true } : {}),
    });
    if (!o.json) {
      if (listSummary) process.stderr.write(`${renderSummary(listSummary)}\n`);
      printMatch(match);
    }
    let files: string[] | undefined;
    if (match.status === 'SUCCEEDED') {
      files = await downloadResult(client, match.matchId, o.out ?? `out/audience-${match.matchId}`);
      if (!o.json) process.stderr.write(`wrote ${files.join(', ')}\n`);
    } else process.exitCode = EXIT.failure;
    if (o.json) printJson({ match, ...(listSummary ? { listSummary } : {}), ...(files ? { files } : {}) });
  },
);

connection(
  program
    .command('matches')
    .description('List your matches, newest first')
    .option('--all', 'every page, not just the newest 50')
    .addOption(jsonFlag('the matches')),
).action(async (o: ConnectionFlags & { all?: boolean; json?: boolean }) => {
  const client = connect(o, 'advertiser');
  const matches: MatchView[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.call('listMatches', { query: { cursor } });
    matches.push(...(page.matches as MatchView[]));
    cursor = page.nextCursor;
  } while (cursor && o.all);
  if (o.json) printJson({ matches, ...(cursor ? { nextCursor: cursor } : {}) });
  else if (matches.length === 0) say('no matches yet.');
  else out(renderMatches(matches));
  if (cursor && !o.json) process.stderr.write('(more: onboard matches --all)\n');
});

connection(
  program
    .command('status')
    .description('Show a match (exit status 1 when it FAILED)')
    .argument('<matchId>')
    .option('--wait', 'wait until it finishes')
    .addOption(jsonFlag('the match')),
).action(async (matchId: string, o: ConnectionFlags & { wait?: boolean; json?: boolean }) => {
  const client = connect(o, 'advertiser');
  const match = o.wait
    ? await waitForMatch(client, matchId, Boolean(o.json))
    : ((await client.call('getMatch', { params: { id: matchId } })) as MatchView);
  if (o.json) printJson(match);
  else printMatch(match);
  if (match.status === 'FAILED') process.exitCode = EXIT.failure;
});

const deletion = program
  .command('delete')
  .description(
    'Delete a list or a finished match of yours, with its files (audited; spent budget stays spent)',
  );
for (const what of ['list', 'match'] as const) {
  connection(
    deletion
      .command(what)
      .description(
        what === 'list'
          ? 'Delete a list: its record and its hashed and raw objects'
          : 'Delete a finished match: its record, its result files and its replay entry',
      )
      .argument(`<${what}Id>`)
      .addOption(jsonFlag('the answer')),
  ).action(async (id: string, o: ConnectionFlags & { json?: boolean }) => {
    const client = connect(o, 'advertiser');
    const answer =
      what === 'list'
        ? await client.call('deleteList', { params: { id } })
        : await client.call('deleteMatch', { params: { id } });
    if (o.json) printJson(answer);
    else out(`${what} ${id} deleted`);
  });
}

connection(
  program
    .command('download')
    .description('Download the anonymized audience files (CSV and JSON) of a match')
    .argument('<matchId>')
    .option('--out <file>', 'base path (.csv and .json are added)')
    .addOption(jsonFlag('the files written')),
).action(async (matchId: string, o: ConnectionFlags & { out?: string; json?: boolean }) => {
  const files = await downloadResult(connect(o, 'advertiser'), matchId, o.out ?? `out/audience-${matchId}`);
  if (o.json) printJson({ files });
  else out(files.join('\n'));
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
  out(JSON.stringify(started));
});
connection(
  pepper
    .command('rekey')
    .description('Re-key every partner under the current key (in AWS, after adding it to the pepper secret)'),
).action(async (o: ConnectionFlags) => {
  const started = await connect(o, 'admin').post<{ keyId: string }>('/v1/admin/pepper/rekey', {});
  out(JSON.stringify(started));
});

function printMatch(match: MatchView) {
  out(`match ${match.matchId}: ${match.status}${match.code ? ` (${match.code}: ${match.detail})` : ''}`);
  if (match.result) out(renderSegmentTable(match.result));
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has said what was wrong (or shown the help asked for).
    process.exitCode = error.exitCode === 0 ? 0 : EXIT.usage;
  } else {
    reportFailure(error);
    process.exitCode = EXIT.failure;
  }
}
