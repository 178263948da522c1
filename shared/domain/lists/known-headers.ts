/**
 * The header names that mark an identifier column, in one place: the CSV exports of CRMs
 * (Salesforce, HubSpot, Dynamics), ESPs (Mailchimp, Klaviyo, Brevo), ad platforms (Google Customer
 * Match, Meta custom audiences, LiveRamp, TikTok) and spreadsheets in several languages.
 *
 * A header cell is compared by its key (`headerKey`): lowercased, accents removed, runs of spaces,
 * `_`, `-` and `.` made one space, trimmed, and a separate trailing number dropped (`Email 1`, `phone_2`),
 * so `E-Mail-Adresse`, `email_address` and `Email Address` need one entry each at most.
 */
import type { IdentifierKind } from '../model.ts';

export interface KnownHeader {
  /** The identifier kind the column holds; `any` for a bare digest column such as `sha256`. */
  kind: IdentifierKind | 'any';
  /** The column holds digests rather than raw identifiers. */
  hashed: boolean;
}

const EMAIL_RAW = [
  'email',
  'e mail',
  'emailaddress',
  'email address',
  'e mail address',
  'mail',
  'email addr',
  'primary email',
  'customer email',
  'contact email',
  'work email',
  'business email',
  'personal email',
  'home email',
  'other email',
  'secondary email',
  'billing email',
  'subscriber email',
  'user email',
  'member email',
  'email id',
  // French, German, Spanish, Italian, Portuguese, Dutch, Polish, Swedish, Danish, Norwegian.
  'courriel',
  'adresse email',
  'adresse e mail',
  'adresse courriel',
  'e mail adresse',
  'emailadresse',
  'mailadresse',
  'correo',
  'correo electronico',
  'direccion de correo',
  'direccion de correo electronico',
  'posta elettronica',
  'indirizzo email',
  'indirizzo e mail',
  'endereco de email',
  'endereco de e mail',
  'e mailadres',
  'emailadres',
  'adres e mail',
  'adres email',
  'e post',
  'e postadresse',
  'epost',
  'e postadress',
];

const PHONE_RAW = [
  'phone',
  'phone number',
  'phonenumber',
  'phone no',
  'primary phone',
  'customer phone',
  'contact phone',
  'work phone',
  'business phone',
  'home phone',
  'personal phone',
  'other phone',
  'billing phone',
  'mobile',
  'mobile number',
  'mobile phone',
  'mobilephone',
  'mobile no',
  'cell',
  'cellphone',
  'cell phone',
  'cell number',
  'tel',
  'telephone',
  'telephone number',
  'msisdn',
  'sms',
  'sms number',
  // French, German, Spanish, Italian, Portuguese, Dutch, Polish, Nordic languages.
  'telephone portable',
  'portable',
  'numero de telephone',
  'telefon',
  'telefonnummer',
  'handy',
  'handynummer',
  'mobilnummer',
  'mobiltelefon',
  'telefono',
  'telefono movil',
  'movil',
  'celular',
  'numero de telefono',
  'cellulare',
  'numero di telefono',
  'telemovel',
  'telefoonnummer',
  'mobiel',
  'mobiel nummer',
  'numer telefonu',
  'mobilnr',
];

const EMAIL_HASHED = [
  'hashed email',
  'email sha256',
  'sha256 email',
  'email hash',
  'hashed email sha256',
  'hem',
  // Meta's Custom Audience schema key.
  'em',
];

const PHONE_HASHED = ['hashed phone', 'phone sha256', 'sha256 phone', 'phone hash', 'ph'];

const ANY_HASHED = ['sha256', 'sha256 hash', 'hash'];

function entries(names: readonly string[], info: KnownHeader): [string, KnownHeader][] {
  return names.map((name) => [name, info]);
}

/** Every known header, by its key. */
export const KNOWN_HEADERS: Readonly<Record<string, KnownHeader>> = Object.freeze(
  Object.fromEntries([
    ...entries(EMAIL_RAW, { kind: 'email', hashed: false }),
    ...entries(PHONE_RAW, { kind: 'phone', hashed: false }),
    ...entries(EMAIL_HASHED, { kind: 'email', hashed: true }),
    ...entries(PHONE_HASHED, { kind: 'phone', hashed: true }),
    ...entries(ANY_HASHED, { kind: 'any', hashed: true }),
  ]),
);

/** The key a header cell is looked up by (see the module comment). */
export function headerKey(cell: string): string {
  const key = cell
    .replace(/^\uFEFF/, '')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[\s_.\-:/]+/g, ' ')
    .trim();
  return key.replace(/ \d{1,2}$/, '');
}

/** What a header cell names, or undefined when it is no known identifier column. */
export function knownHeader(cell: string): KnownHeader | undefined {
  const key = headerKey(cell);
  return Object.hasOwn(KNOWN_HEADERS, key) ? KNOWN_HEADERS[key] : undefined;
}
