import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  hashRawMembers,
  holdsRawIdentifiers,
  MEMBERS_HEADER,
  type RawMembersSummary,
} from '../../shared/domain/audiences/raw-members.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function hashed(text: string, summary?: RawMembersSummary) {
  let out = '';
  for await (const line of hashRawMembers(
    Readable.from([text]),
    { profile: 'google', region: 'US' },
    summary,
  ))
    out += line;
  return out.split('\n').filter(Boolean);
}

describe("a partner's raw export hashed on its own machine", () => {
  it('hashes every raw email and phone column by its own rules, one output row per input row', async () => {
    const summary: RawMembersSummary = {
      rows: 0,
      hashed: { email: 0, phone: 0 },
      invalid: { email: 0, phone: 0 },
    };
    const rows = await hashed(
      [
        'Customer Email,Mobile Phone,First Name,segment_id',
        ' Jane.Doe@GMAIL.com ,(212) 555-0123,Jane,auto',
        'not-an-email,,Bob,auto',
        ',+44 20 7946 0958,Ann,new-parents',
        'x@example.com,123,Eve,=cmd()',
      ].join('\n'),
      summary,
    );
    expect(rows[0]).toBe(MEMBERS_HEADER);
    // google: gmail dots dropped, lowercased; phones in E.164 with the +.
    expect(rows[1]).toBe(`${sha('janedoe@gmail.com')},${sha('+12125550123')},auto`);
    expect(rows[2]).toBe(',,auto');
    expect(rows[3]).toBe(`,${sha('+442079460958')},new-parents`);
    // A segment id that is not an id goes empty (the ingest rejects the row by rule).
    expect(rows[4]).toBe(`${sha('x@example.com')},,`);
    expect(rows).toHaveLength(5);
    expect(summary).toEqual({ rows: 4, hashed: { email: 2, phone: 2 }, invalid: { email: 1, phone: 1 } });
    // No raw value in the output.
    expect(rows.join('\n')).not.toMatch(/@|Jane|555/);
  });

  it('tells raw exports from hashed files by their header, and refuses a file without a segment column', async () => {
    expect(holdsRawIdentifiers(['email', 'segment_id'])).toBe(true);
    expect(holdsRawIdentifiers(['E-Mail-Adresse', 'segment'])).toBe(true);
    expect(holdsRawIdentifiers(['email_sha256', 'phone_sha256', 'segment_id'])).toBe(false);
    expect(holdsRawIdentifiers(['sha256', 'segment_id'])).toBe(false);
    await expect(hashed('email,name\na@b.co,x\n')).rejects.toThrow(/needs a segment column/);
    await expect(hashed('name,segment_id\nx,s\n')).rejects.toThrow(/no raw email or phone column/);
    // A headerless file: its first row is data, and no value of it reaches the message.
    const headerless = hashed('jane@example.com,+12125550123,auto\n');
    await expect(headerless).rejects.toThrow(/\(a value, not a column name\)/);
    await expect(hashed('jane@example.com,+12125550123,auto\n')).rejects.not.toThrow(/jane|212555/);
  });
});
