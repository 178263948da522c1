/**
 * Hashing a list as people: one classifier per identifier kind (each kind normalized by its own
 * rules), for a line of one identifier and for every identifier column of a CSV row. The CLI, the
 * server's raw-list path and the web console share it, so they write the same upload form.
 */
import type { HashOutcome, IdentifierHasher } from '../identifiers/hash.ts';
import type { IdentifierKind } from '../model.ts';
import type { Classify, ParseListOptions } from './parse-list.ts';

/** Dedupe on the encoded hash; write the encoded hash. */
export function hashClassifier(hasher: IdentifierHasher): Classify {
  return (raw) => {
    const out: HashOutcome = hasher.hash(raw);
    return out.ok ? { ok: true, key: out.encoded, output: out.encoded } : { ok: false, reason: out.reason };
  };
}

/**
 * The parse options that hash a list as people: a line is one identifier of `lineKind` (`kind`,
 * else email); a CSV row is every recognised identifier column (or those of `kind` when it is given,
 * or the `column` named).
 */
export function personHashing(
  hasherOf: (kind: IdentifierKind) => IdentifierHasher,
  kind?: IdentifierKind,
  lineKind: IdentifierKind = kind ?? 'email',
): Pick<ParseListOptions, 'classify' | 'classifyAs' | 'kind' | 'lineKind'> {
  const classifiers = new Map<IdentifierKind, Classify>();
  const of = (k: IdentifierKind): Classify => {
    let c = classifiers.get(k);
    if (!c) {
      c = hashClassifier(hasherOf(k));
      classifiers.set(k, c);
    }
    return c;
  };
  return {
    classify: of(lineKind),
    classifyAs: (column) => of(column.kind),
    lineKind,
    ...(kind ? { kind } : {}),
  };
}
