import { describe, expect, it } from 'vitest';
import { LEAN_ZOD_EXCLUDED, z as lean } from '../../cdk/bundling/zod-lean.ts';
// The real classic API, by file: the package's exports map does not list this subpath.
import * as classic from '../../node_modules/zod/v4/classic/external.js';

describe('the lean zod swapped into the Lambda bundles', () => {
  it('has every export of zod except the excluded namespaces', () => {
    const expected = Object.keys(classic)
      .filter((k) => !(LEAN_ZOD_EXCLUDED as readonly string[]).includes(k))
      .sort();
    expect(Object.keys(lean).sort()).toEqual(expected);
    // Same values, not copies: `instanceof z.ZodError` and friends keep working. Walking every
    // export is the point of this test (tests are not bundled).
    const real = new Map(Object.entries(classic));
    for (const key of expected) expect(lean[key as keyof typeof lean], key).toBe(real.get(key));
  });

  it('parses and reports errors like zod', () => {
    const schema = lean.object({ tenantId: lean.string().min(1), shards: lean.array(lean.number().int()) });
    expect(schema.parse({ tenantId: 't', shards: [1, 2] })).toEqual({ tenantId: 't', shards: [1, 2] });
    const failed = schema.safeParse({ tenantId: '', shards: ['x'] });
    expect(failed.success).toBe(false);
    expect(failed.error).toBeInstanceOf(lean.ZodError);
    expect(failed.error?.issues.map((i) => i.path.join('.'))).toEqual(['tenantId', 'shards.0']);
  });
});
