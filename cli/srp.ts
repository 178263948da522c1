/**
 * The client side of Cognito's SRP-6a variant (USER_SRP_AUTH): the password never leaves this
 * machine, only a proof that we know it. The group is the 3072-bit MODP group of RFC 3526 (Node's
 * `modp15`), g = 2, SHA-256 throughout; Cognito's own rules: numbers are hashed as big-endian hex
 * padded to a whole byte with a leading 00 when the top bit is set, x = H(salt | H(pool name |
 * user id | ":" | password)), the key is HKDF(S, u, "Caldera Derived Key") truncated to 16 bytes,
 * and the proof is HMAC(key, pool name | user id | secret block | timestamp).
 */
import { createHash, createHmac, getDiffieHellman, randomBytes } from 'node:crypto';

export const SRP_N = BigInt(`0x${getDiffieHellman('modp15').getPrime('hex')}`);
export const SRP_G = 2n;

/** Big-endian hex of a non-negative number, a whole number of bytes, with a 00 before a set top bit. */
export function padHex(n: bigint): string {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return /^[89a-f]/.test(hex) ? `00${hex}` : hex;
}

const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hashHexes = (...hexes: string[]) => sha256Hex(Buffer.from(hexes.join(''), 'hex'));

export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = ((base % modulus) + modulus) % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

const K = BigInt(`0x${hashHexes(padHex(SRP_N), padHex(SRP_G))}`);

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Cognito's timestamp, e.g. `Tue Nov 3 07:05:09 UTC 2026` (day of month not padded). */
export function srpTimestamp(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[at.getUTCDay()]} ${MONTHS[at.getUTCMonth()]} ${at.getUTCDate()} ${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} UTC ${at.getUTCFullYear()}`;
}

export interface PasswordVerifierInput {
  userIdForSrp: string;
  password: string;
  /** Hex, as Cognito sends them. */
  salt: string;
  srpB: string;
  /** Base64, as Cognito sends it. */
  secretBlock: string;
}

/** One SRP exchange: `publicA` goes with InitiateAuth, `passwordVerifier` answers PASSWORD_VERIFIER. */
export function cognitoSrp(userPoolId: string, now: () => Date = () => new Date()) {
  const poolName = userPoolId.split('_')[1] ?? '';
  let a: bigint;
  let A: bigint;
  do {
    a = BigInt(`0x${randomBytes(128).toString('hex')}`) % SRP_N;
    A = modPow(SRP_G, a, SRP_N);
  } while (a === 0n || A % SRP_N === 0n);
  return {
    publicA: A.toString(16),
    passwordVerifier(input: PasswordVerifierInput): { signature: string; timestamp: string } {
      const B = BigInt(`0x${input.srpB}`);
      if (B % SRP_N === 0n) throw new Error('SRP: the server sent an invalid B');
      const u = BigInt(`0x${hashHexes(padHex(A), padHex(B))}`);
      if (u === 0n) throw new Error('SRP: u is zero');
      const identity = sha256Hex(`${poolName}${input.userIdForSrp}:${input.password}`);
      const x = BigInt(`0x${hashHexes(padHex(BigInt(`0x${input.salt}`)), identity)}`);
      const S = modPow(B - K * modPow(SRP_G, x, SRP_N), a + u * x, SRP_N);
      const prk = createHmac('sha256', Buffer.from(padHex(u), 'hex'))
        .update(Buffer.from(padHex(S), 'hex'))
        .digest();
      const key = createHmac('sha256', prk)
        .update(Buffer.concat([Buffer.from('Caldera Derived Key', 'utf8'), Buffer.from([1])]))
        .digest()
        .subarray(0, 16);
      const timestamp = srpTimestamp(now());
      const signature = createHmac('sha256', key)
        .update(
          Buffer.concat([
            Buffer.from(poolName, 'utf8'),
            Buffer.from(input.userIdForSrp, 'utf8'),
            Buffer.from(input.secretBlock, 'base64'),
            Buffer.from(timestamp, 'utf8'),
          ]),
        )
        .digest('base64');
      return { signature, timestamp };
    },
  };
}
