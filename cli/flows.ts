/** The CLI's user flows over the HTTP API: partner upload, match (hash locally, upload, wait, download). */
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hashedLines } from '../shared/domain/lists/hashed-lines.ts';
import { createListSummary } from '../shared/domain/lists/list-summary.ts';
import { openList } from '../shared/domain/lists/parse-list.ts';
import { type Encoding, type IdentifierKind, orderedKinds, type Profile } from '../shared/domain/model.ts';
import type { ListSummary } from '../shared/domain/result/result-schema.ts';
import { type ApiClient, ApiError, downloadFrom, type UploadTicket, uploadTo } from './api-client.ts';
import { announceBudget } from './budget-notice.ts';
import { UserError } from './failure.ts';
import { hashingOptions } from './hash-command.ts';
import { openInput } from './input-files.ts';
import { progressBar } from './render.ts';
import { removeScratch, scratchDir } from './scratch.ts';
import type { ResponseOf } from './typed-client.ts';

export interface SegmentDeclaration {
  segmentId: string;
  name: string;
  description?: string;
}

export interface IngestReportView {
  audienceId: string;
  status: 'AWAITING_UPLOAD' | 'INGESTING' | 'SUCCEEDED' | 'FAILED';
  report?: {
    rowsRead: number;
    accepted: number;
    rejected: number;
    duplicates: number;
    rejectedByRule: Record<string, { count: number; rows: number[] }>;
    segments: { segmentId: string; members: number; version: number }[];
  };
  code?: string;
  detail?: string;
}

/** A match as `GET /v1/matches/{id}` answers it (typed from the API's schema). */
export type MatchView = ResponseOf<'getMatch'>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function poll<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  onTick?: (v: T) => void,
  timeoutMs = 30 * 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 100; ; delay = Math.min(delay * 1.5, 1_000)) {
    const value = await read();
    onTick?.(value);
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new ApiError(0, 'timeout', 'Gave up waiting; the job may still finish: check its status later.');
    await sleep(delay);
  }
}

/** Declares segments, uploads the members file, waits for the ingest report. */
export async function uploadPartnerAudience(
  client: ApiClient,
  input: {
    partnerId: string;
    profile: Profile;
    segments: SegmentDeclaration[];
    source: { file: string } | { text: string };
    /** The most rows the ingest may reject before it fails (a share; the service default is 0.1). */
    maxRejectedShare?: number;
    /** Read and report only. */
    dryRun?: boolean;
  },
): Promise<IngestReportView> {
  const { audienceId, upload } = await client.post<{ audienceId: string; upload: UploadTicket }>(
    `/v1/partners/${encodeURIComponent(input.partnerId)}/audiences`,
    {
      profile: input.profile,
      segments: input.segments.map((s) => ({ description: '', ...s })),
      ...(input.maxRejectedShare !== undefined ? { maxRejectedShare: input.maxRejectedShare } : {}),
      ...(input.dryRun ? { dryRun: true } : {}),
    },
  );
  await uploadTo(upload, input.source);
  return poll(
    () =>
      client.get<IngestReportView>(
        `/v1/partners/${encodeURIComponent(input.partnerId)}/audiences/${audienceId}`,
      ),
    (v) => v.status === 'SUCCEEDED' || v.status === 'FAILED',
  );
}

export interface MatchOptions {
  partnerId: string;
  /** A path, text (the demo) or a stream (`--list -`: stdin; hashed locally only). */
  list: { file: string } | { text: string } | { stream: AsyncIterable<Uint8Array | string> };
  /** Hash locally (default) or upload raw to be hashed server-side. */
  raw?: boolean;
  kind?: IdentifierKind;
  encoding?: Encoding;
  region?: string;
  column?: string;
  minSegmentSize?: number;
  quiet?: boolean;
}

export interface MatchOutcome {
  match: MatchView;
  listSummary?: ListSummary;
}

/**
 * The whole advertiser flow: hash locally, upload the hashes, start the match, wait for it. The
 * hashes wait for their upload in a scratch folder that is gone as soon as they are uploaded (and,
 * should the CLI be stopped, on its way out): unkeyed hashes of customers stay nowhere.
 */
export async function runMatch(client: ApiClient, options: MatchOptions): Promise<MatchOutcome> {
  // The list first: a wrong path fails at once, before any request.
  const listFile = 'file' in options.list ? await openInput(options.list.file, 'the list') : undefined;
  let dir: string | undefined;
  try {
    if (options.raw && 'stream' in options.list)
      throw new UserError(
        'A raw list is uploaded from a file (its size is sent first): pass its path to --list.',
      );
    const { partners } = await client.get<{ partners: { partnerId: string; profile: Profile }[] }>(
      '/v1/partners',
    );
    const partner = partners.find((p) => p.partnerId === options.partnerId);
    if (!partner)
      throw new ApiError(
        404,
        'partner-not-found',
        `No partner ${options.partnerId}; \`onboard partners\` lists them.`,
      );
    const kind = options.kind ?? 'email';
    // The cost before any work (and a warning when the budget runs low).
    if (!options.quiet)
      await announceBudget(client, options.partnerId, (line) => process.stderr.write(`${line}\n`), {
        warningsOnly: !process.stderr.isTTY,
      });
    const hashing = hashingOptions({
      profile: partner.profile,
      kind: options.kind,
      ...(options.encoding ? { encoding: options.encoding } : {}),
      ...(options.region ? { region: options.region as never } : {}),
    });
    // Before anything is hashed or uploaded: the identifier kinds the list holds (its header; a
    // stream can be read once only, so stdin takes --kind), and whether the match can run at all
    // (partner, kinds, k, budget).
    const kinds =
      'stream' in options.list
        ? [kind]
        : await listKinds(
            'file' in options.list
              ? createReadStream(options.list.file)
              : Readable.from(['text' in options.list ? options.list.text : '']),
            { ...hashing, ...(options.column ? { column: options.column } : {}) },
          );
    const check = {
      partnerId: options.partnerId,
      kinds,
      ...(options.minSegmentSize ? { minSegmentSize: options.minSegmentSize } : {}),
    };
    await client.post('/v1/matches/check', check);
    let listSummary: ListSummary | undefined;
    let upload = 'stream' in options.list ? undefined : options.list;
    if (!options.raw) {
      // Raw identifiers never leave this machine: only their hashes are uploaded.
      dir = await scratchDir('onboard-match-');
      const hashedFile = join(dir, 'hashed.txt');
      const text = 'text' in options.list ? Buffer.from(options.list.text) : undefined;
      // A stream's length is unknown: its bar shows only the end.
      const totalBytes = listFile ? (await listFile.stat()).size : (text?.length ?? Number.POSITIVE_INFINITY);
      const input =
        'stream' in options.list
          ? options.list.stream
          : (listFile?.createReadStream() ?? Readable.from([text ?? Buffer.alloc(0)]));
      const summary = createListSummary();
      const bar = options.quiet ? undefined : progressBar('hashing ');
      let seen = 0;
      const counting = (async function* () {
        for await (const chunk of input) {
          seen += Buffer.byteLength(chunk as Buffer | string);
          yield chunk as Uint8Array | string;
          bar?.update(seen / Math.max(1, totalBytes));
        }
      })();
      const lines = hashedLines(counting, {
        ...hashing,
        summary,
        ...(options.column ? { column: options.column } : {}),
      });
      await pipeline(lines, createWriteStream(hashedFile, { mode: 0o600 }));
      listSummary = summary.snapshot();
      bar?.done(
        `${listSummary.rows.toLocaleString('en-US')} rows, ${listSummary.valid.toLocaleString('en-US')} valid`,
      );
      upload = { file: hashedFile };
      // Hashed here, nothing uploaded yet: is the list big enough?
      await client.post('/v1/matches/check', { ...check, distinct: listSummary.distinct });
    }
    const created = await client.post<{ listId: string; upload: UploadTicket }>('/v1/lists', {
      format: options.raw ? 'raw' : 'hashed',
      profile: partner.profile,
      kind,
      kinds,
      ...(options.encoding ? { encoding: options.encoding } : {}),
      ...(options.region ? { region: options.region } : {}),
      ...(options.column ? { column: options.column } : {}),
      ...(listSummary ? { summary: listSummary } : {}),
    });
    if (!upload) throw new UserError('Nothing to upload.');
    await uploadTo(created.upload, upload);
    if (dir) {
      await removeScratch(dir);
      dir = undefined;
    }
    if (options.raw) {
      const list = await poll(
        () => client.get<{ status: string; code?: string; detail?: string }>(`/v1/lists/${created.listId}`),
        (l) => l.status === 'READY' || l.status === 'FAILED',
      );
      if (list.status === 'FAILED')
        throw new ApiError(422, list.code ?? 'list-failed', list.detail ?? 'The list could not be hashed.');
    }
    const started = await client.post<{ matchId: string }>('/v1/matches', {
      listId: created.listId,
      partnerId: options.partnerId,
      ...(options.minSegmentSize ? { minSegmentSize: options.minSegmentSize } : {}),
    });
    const match = await waitForMatch(client, started.matchId, options.quiet);
    return { match, ...(listSummary ? { listSummary } : {}) };
  } finally {
    await listFile?.close().catch(() => undefined);
    if (dir) await removeScratch(dir);
  }
}

/** The identifier kinds a list holds, from its first line (a CSV header), without reading further. */
async function listKinds(
  source: NodeJS.ReadableStream & { destroy(): void },
  options: Parameters<typeof openList>[1],
): Promise<IdentifierKind[]> {
  try {
    const { layout, batches } = await openList(source as AsyncIterable<Uint8Array>, options);
    await batches.return(undefined);
    return layout.mode === 'csv'
      ? orderedKinds(layout.columns.map((c) => c.kind))
      : [options.lineKind ?? options.kind ?? 'email'];
  } finally {
    source.destroy();
  }
}

export async function waitForMatch(client: ApiClient, matchId: string, quiet = false): Promise<MatchView> {
  const bar = quiet ? undefined : progressBar('matching');
  const match = await poll(
    () => client.call('getMatch', { params: { id: matchId } }),
    (m) => m.status === 'SUCCEEDED' || m.status === 'FAILED',
    (m) => bar?.update(m.progress.percent / 100, m.progress.phase),
  );
  bar?.done(match.status.toLowerCase());
  return match;
}

/** Downloads the anonymized audience files (CSV and JSON) of a match into `outBase`.{csv,json}. */
export async function downloadResult(client: ApiClient, matchId: string, outBase: string): Promise<string[]> {
  mkdirSync(dirname(outBase), { recursive: true });
  const written: string[] = [];
  for (const format of ['csv', 'json'] as const) {
    const { url } = await client.call('getMatchDownload', { params: { id: matchId }, query: { format } });
    const path = `${outBase}.${format}`;
    await writeFile(path, await downloadFrom(url));
    written.push(path);
  }
  return written;
}
