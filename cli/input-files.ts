/**
 * Files the user names on the command line (a list, a members file, a segments file): opened
 * before any work starts, so a wrong path is one clear line, not an 'error' event mid-stream.
 */
import type { FileHandle } from 'node:fs/promises';
import { open, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { systemErrorWords, UserError } from './failure.ts';
import type { SegmentDeclaration } from './flows.ts';

/** Opens a file to read, or throws a UserError naming it (`what`: "the list"). */
export async function openInput(path: string, what: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new UserError(`Cannot read ${what} ${path}: ${systemErrorWords(error) ?? String(error)}.`);
  }
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    throw new UserError(`Cannot read ${what} ${path}: it is a folder, not a file.`);
  }
  return handle;
}

/** Checks that a file can be read (it is read later, as a stream). */
export async function assertReadable(path: string, what: string): Promise<void> {
  await (await openInput(path, what)).close();
}

async function readInputText(path: string, what: string): Promise<string> {
  const handle = await openInput(path, what);
  try {
    return await readFile(handle, 'utf8');
  } catch (error) {
    throw new UserError(`Cannot read ${what} ${path}: ${systemErrorWords(error) ?? String(error)}.`);
  } finally {
    await handle.close();
  }
}

const SegmentsFileSchema = z
  .array(
    z.object({
      segmentId: z.string().min(1),
      name: z.string().min(1),
      description: z.string().optional(),
    }),
  )
  .min(1);

/** The partner's segments file: a JSON array of {segmentId, name, description?}. */
export async function readSegmentsFile(path: string): Promise<SegmentDeclaration[]> {
  const text = await readInputText(path, 'the segments file');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UserError(`The segments file ${path} is not valid JSON.`);
  }
  const parsed = SegmentsFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new UserError(
      `The segments file ${path} is not a JSON array of {segmentId, name, description}${where}: ${issue?.message ?? 'invalid'}.`,
    );
  }
  return parsed.data.map((s) => ({
    segmentId: s.segmentId,
    name: s.name,
    ...(s.description !== undefined ? { description: s.description } : {}),
  }));
}
