/**
 * The hashed upload form of a list: one line a person, its identifiers' hashes tagged with their
 * kind (`e:<hash>,p:<hash>`, primary identifier first), an empty line where a row held no valid
 * identifier. A line of one bare hash (the form before kinds) is still read, as the list's kind.
 * Hashes are hex (64) or base64 (44): neither holds `,` or `:`, so the form needs no quoting.
 */
import { IDENTIFIER_KINDS, type IdentifierKind, KIND_TAGS } from '../model.ts';

const KIND_OF_TAG: Readonly<Record<string, IdentifierKind>> = Object.fromEntries(
  IDENTIFIER_KINDS.map((k) => [KIND_TAGS[k], k]),
);

/** One identifier of a person in the upload form. */
export interface TaggedHash {
  kind: IdentifierKind;
  /** The encoded hash (hex or base64), as written. */
  hash: string;
}

/** The upload line of a person (without its line break). */
export function personLine(ids: readonly TaggedHash[]): string {
  let line = '';
  for (const id of ids) line += `${line ? ',' : ''}${KIND_TAGS[id.kind]}:${id.hash}`;
  return line;
}

/**
 * The identifiers of an upload line, or undefined when it is not in the form (`fallback` is the
 * kind of a bare hash). Hashes are returned as written: the caller checks their shape.
 */
export function parsePersonLine(line: string, fallback: IdentifierKind): TaggedHash[] | undefined {
  if (line.indexOf(':') < 0) return line.indexOf(',') < 0 ? [{ kind: fallback, hash: line }] : undefined;
  const out: TaggedHash[] = [];
  for (const part of line.split(',')) {
    const colon = part.indexOf(':');
    const kind = colon > 0 ? KIND_OF_TAG[part.slice(0, colon)] : undefined;
    if (kind === undefined || !Object.hasOwn(KIND_OF_TAG, part.slice(0, colon))) return undefined;
    out.push({ kind, hash: part.slice(colon + 1) });
  }
  return out;
}
