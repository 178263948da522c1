/**
 * fast-check arbitraries from the JSON Schemas of the OpenAPI document (schemathesis-style): values
 * inside a schema, values just outside it (wrong type, out of range, off-pattern, a property too
 * many or a required one missing), and hostile strings for path segments and query values.
 * Only the keywords the API's schemas use are read; anything else falls back to any JSON value.
 */
import fc from 'fast-check';

export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  format?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

/** Small bounds keep each case cheap: arrays of a few items, strings of a few dozen characters. */
const MAX_ITEMS = 4;

const jsonValue = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 20 }),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 3 }),
  );

function stringOf(schema: JsonSchema): fc.Arbitrary<string> {
  if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern));
  if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
  const minLength = schema.minLength ?? 0;
  return fc.string({ minLength, maxLength: Math.max(minLength, Math.min(schema.maxLength ?? 40, 40)) });
}

function numberOf(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  // Bounds clamped to small numbers: the interesting cases are near the limits, not at 2^53.
  const min = Math.max(schema.minimum ?? -1000, -1e6);
  const max = Math.min(schema.maximum ?? 1000, 1e6);
  return integer
    ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
    : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
}

/** A value the schema accepts. */
export function validValue(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return fc.oneof(...options.map((o) => validValue(o, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return numberOf(schema, true);
    case 'number':
      return numberOf(schema, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(validValue(schema.items ?? {}, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? MAX_ITEMS, MAX_ITEMS)),
      });
    case 'object':
      return objectOf(schema, depth);
    default:
      return jsonValue();
  }
}

function objectOf(schema: JsonSchema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const record = fc.record(
    Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, validValue(s, depth + 1)])),
    { requiredKeys: [...required].filter((k) => k in properties) },
  );
  const extra = schema.additionalProperties;
  if (typeof extra === 'object' && depth < 3) {
    return fc
      .tuple(
        record,
        fc.dictionary(
          schema.propertyNames ? stringOf(schema.propertyNames) : fc.string({ maxLength: 12 }),
          validValue(extra, depth + 1),
          { maxKeys: 3 },
        ),
      )
      .map(([known, more]) => ({ ...more, ...known }));
  }
  return record;
}

/** A value next to the schema: most of these are refused, some happen to pass (both are fine). */
export function invalidValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  const wrongType = jsonValue();
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  const near: fc.Arbitrary<unknown>[] = [wrongType];
  if (type === 'string' || schema.enum) {
    near.push(
      hostileString(),
      fc.string({
        minLength: (schema.maxLength ?? 64) + 1,
        maxLength: Math.max(300, (schema.maxLength ?? 64) + 1),
      }),
    );
  }
  if (type === 'integer' || type === 'number') {
    near.push(
      fc.constantFrom(
        (schema.minimum ?? 0) - 1,
        (schema.maximum ?? 0) + 1,
        0.5,
        -0,
        1e300,
        Number.MAX_SAFE_INTEGER + 2,
        '12',
      ),
    );
  }
  if (type === 'array')
    near.push(fc.constant([]), fc.array(invalidValue(schema.items ?? {}), { maxLength: 3 }));
  if (type === 'object' && schema.properties) {
    const keys = Object.keys(schema.properties);
    near.push(
      // One property swapped for a value next to its own schema.
      fc.tuple(validValue(schema), fc.constantFrom(...keys)).chain(([value, key]) =>
        invalidValue(schema.properties?.[key] ?? {}).map((bad) => ({
          ...(value as Record<string, unknown>),
          [key]: bad,
        })),
      ),
      // A property the schema does not know.
      validValue(schema).map((value) => ({ ...(value as Record<string, unknown>), __proto__x: 1 })),
      // A required property missing.
      ...(schema.required?.length
        ? [
            fc.tuple(validValue(schema), fc.constantFrom(...schema.required)).map(([value, key]) => {
              const copy = { ...(value as Record<string, unknown>) };
              delete copy[key];
              return copy;
            }),
          ]
        : []),
    );
  }
  return fc.oneof(...near);
}

/** Strings a client should never send in a path segment or a query value, raw (already encoded). */
export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      '%',
      '%ZZ',
      '%E0%A4%A',
      '%C0%AF',
      '%FF',
      '%00',
      '%2F',
      '%2e%2e',
      '..',
      '%25',
      '%u0041',
      'a%20b',
      '-lead',
      '_lead',
      'constructor',
      '__proto__',
      'x'.repeat(65),
      '%F0%9F%98%80',
      '0',
      'null',
    ),
    fc.string({ minLength: 1, maxLength: 30, unit: 'binary' }).map(encodeURIComponent),
    fc.stringMatching(/^(%[0-9A-Fa-f]{0,2}|[A-Za-z0-9_.~-]){1,12}$/),
  );
}
