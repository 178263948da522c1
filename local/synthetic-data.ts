/**
 * Synthetic, deterministic demo data: a partner with realistic, overlapping segments (a few small
 * enough to be suppressed) and a messy CRM list (mixed case, stray whitespace, gmail dots and
 * +tags, invalid rows, duplicates) whose people partly overlap the partner's base.
 * Nobody in it is real: names are drawn from short lists, domains are reserved example domains
 * or common webmail with made-up local parts.
 */

/** A small, fast, seedable PRNG (mulberry32): demo data must be the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  'ana',
  'ben',
  'carla',
  'dev',
  'elif',
  'farah',
  'gus',
  'hana',
  'ivan',
  'jo',
  'kai',
  'lena',
  'mo',
  'nia',
  'omar',
  'pia',
  'quinn',
  'rosa',
  'sam',
  'tariq',
  'uma',
  'vic',
  'wen',
  'xavi',
  'yara',
  'zoe',
];
const LAST = [
  'ahn',
  'baker',
  'costa',
  'diaz',
  'evans',
  'fischer',
  'garcia',
  'haddad',
  'ito',
  'jensen',
  'kim',
  'lopez',
  'moreau',
  'nakamura',
  'okafor',
  'patel',
  'quist',
  'rossi',
  'silva',
  'tanaka',
  'ueda',
  'vogel',
  'wong',
  'xu',
  'young',
  'zhang',
];
const DOMAINS = [
  'gmail.com',
  'example.com',
  'example.org',
  'example.net',
  'mail.example.com',
  'googlemail.com',
];

/** The canonical (already normalized, google profile) email of person n. */
export function personEmail(n: number): string {
  const first = FIRST[n % FIRST.length] as string;
  const last = LAST[Math.floor(n / FIRST.length) % LAST.length] as string;
  const domain = DOMAINS[(n * 7) % DOMAINS.length] as string;
  // gmail/googlemail local parts carry no dots once normalized by the google profile.
  const gmail = domain === 'gmail.com' || domain === 'googlemail.com';
  return `${first}${gmail ? '' : '.'}${last}${n}@${domain}`;
}

export interface SegmentSpec {
  segmentId: string;
  name: string;
  description: string;
  /** Probability that a base member belongs; tiny ones end up under k for a typical list. */
  rate: number;
}

export const DEMO_SEGMENTS: readonly SegmentSpec[] = [
  {
    segmentId: 'auto-intenders',
    name: 'Auto intenders',
    description: 'Researched new or used cars in the last 30 days',
    rate: 0.18,
  },
  {
    segmentId: 'outdoor-enthusiasts',
    name: 'Outdoor enthusiasts',
    description: 'Hiking, camping and climbing gear buyers',
    rate: 0.22,
  },
  {
    segmentId: 'new-parents',
    name: 'New parents',
    description: 'Households with a child under two',
    rate: 0.08,
  },
  {
    segmentId: 'frequent-travelers',
    name: 'Frequent travelers',
    description: 'Five or more flights a year',
    rate: 0.12,
  },
  {
    segmentId: 'home-improvers',
    name: 'Home improvers',
    description: 'DIY and renovation shoppers',
    rate: 0.15,
  },
  { segmentId: 'pet-owners', name: 'Pet owners', description: 'Dog and cat food subscribers', rate: 0.25 },
  {
    segmentId: 'luxury-shoppers',
    name: 'Luxury shoppers',
    description: 'High-end fashion and watches',
    rate: 0.04,
  },
  {
    segmentId: 'fitness-buffs',
    name: 'Fitness buffs',
    description: 'Gym members and running app users',
    rate: 0.16,
  },
  {
    segmentId: 'ev-curious',
    name: 'EV curious',
    description: 'Compared electric vehicle models',
    rate: 0.05,
  },
  {
    segmentId: 'vintage-vinyl',
    name: 'Vintage vinyl collectors',
    description: 'Bought pre-1980 records online',
    rate: 0.0012,
  },
  {
    segmentId: 'sailing-club',
    name: 'Sailing club members',
    description: 'Yacht club newsletters',
    rate: 0.0006,
  },
];

export interface PartnerData {
  /** `sha256,segment_id` CSV rows with a header. */
  csv: string;
  members: number;
  memberships: number;
}

/**
 * The partner's base: people [baseStart, baseStart + baseSize), each in any number of segments
 * (independent draws), hashed with `hash` (the partner's profile, hex).
 */
export function partnerMembers(
  hash: (email: string) => string,
  options: { baseStart?: number; baseSize?: number; seed?: number; segments?: readonly SegmentSpec[] } = {},
): PartnerData {
  const { baseStart = 0, baseSize = 200_000, seed = 7, segments = DEMO_SEGMENTS } = options;
  const random = seededRandom(seed);
  const rows: string[] = ['sha256,segment_id'];
  let members = 0;
  for (let n = baseStart; n < baseStart + baseSize; n++) {
    let any = false;
    let h: string | undefined;
    for (const s of segments) {
      if (random() < s.rate) {
        h ??= hash(personEmail(n));
        rows.push(`${h},${s.segmentId}`);
        any = true;
      }
    }
    if (any) members++;
  }
  return { csv: `${rows.join('\n')}\n`, members, memberships: rows.length - 1 };
}

/** Messes up a canonical email the way CRM exports do, keeping its google-normalized form. */
function messy(email: string, random: () => number): string {
  const [local, domain] = email.split('@') as [string, string];
  let l = local;
  if (domain === 'gmail.com' || domain === 'googlemail.com') {
    if (random() < 0.4 && l.length > 3) l = `${l.slice(0, 2)}.${l.slice(2)}`;
    if (random() < 0.3) l = `${l}+news`;
  }
  let out = `${l}@${domain}`;
  const r = random();
  if (r < 0.25) out = out.toUpperCase();
  else if (r < 0.5) out = out.charAt(0).toUpperCase() + out.slice(1);
  if (random() < 0.2) out = `  ${out} `;
  if (random() < 0.05) out = `\t${out}`;
  return out;
}

const INVALID = [
  'not-an-email',
  'jane@',
  '@example.com',
  'two@@example.com',
  'john doe@example.com',
  'x@localhost',
  '',
  'n/a',
  '=HYPERLINK("http://x")',
];

export interface CrmList {
  /** CSV text with a header: email, first_name, plan. */
  csv: string;
  rows: number;
}

/**
 * An advertiser's CRM export: `size` people drawn from [start, start + span) (so some are in the
 * partner base and some not), written messily, plus invalid rows and duplicates.
 */
export function crmList(
  options: { start?: number; span?: number; size?: number; seed?: number } = {},
): CrmList {
  const { start = 150_000, span = 120_000, size = 40_000, seed = 11 } = options;
  const random = seededRandom(seed);
  const lines = ['Email,First Name,Plan'];
  const picked: number[] = [];
  for (let i = 0; i < size; i++) {
    const n = start + Math.floor(random() * span);
    picked.push(n);
    const first = personEmail(n).split(/[.@0-9]/)[0] ?? '';
    lines.push(`${messy(personEmail(n), random)},${first},${random() < 0.3 ? 'gold' : 'basic'}`);
    if (random() < 0.02) lines.push(`${INVALID[Math.floor(random() * INVALID.length)]},,basic`);
    if (random() < 0.03 && picked.length > 1) {
      const again = picked[Math.floor(random() * picked.length)] as number;
      lines.push(`${messy(personEmail(again), random)},,basic`);
    }
  }
  return { csv: `${lines.join('\r\n')}\r\n`, rows: lines.length - 1 };
}
