/**
 * Ports: the narrow interfaces the domain core needs from the outside world. Adapters under
 * shared/adapters implement them (in memory, DynamoDB, S3); the domain never imports the AWS SDK.
 */
import type { AudienceSnapshot } from './model.ts';

/**
 * Turns an identifier digest (32 bytes of SHA-256) into the key stored at rest: HMAC-SHA256 under
 * a secret pepper (PRODUCT.md rule 6), so a leaked table cannot be reversed by hashing a dictionary.
 */
export interface AudienceKeyer {
  /** Identifies the pepper, for rotation. */
  readonly keyId: string;
  /** base64url of HMAC-SHA256(pepper, digest). */
  key(digest: Uint8Array): string;
}

/** Partner audiences: the catalog and, for a batch of keyed digests, their segment memberships. */
export interface AudienceStore {
  /** The partner's catalog pinned now; undefined when the partner has none. */
  snapshot(partnerId: string): Promise<AudienceSnapshot | undefined>;
  /**
   * For each key (same order), the ids of the segments it belongs to in the snapshot's versions.
   * Keys absent from the audience give an empty array.
   */
  memberships(snapshot: AudienceSnapshot, keys: readonly string[]): Promise<ReadonlyArray<readonly string[]>>;
}

/** A source of uniformly random 32-bit words from a cryptographic generator. */
export type RandomWords = (count: number) => Uint32Array;
