/**
 * Secure defaults as plain functions (the aws-solutions-constructs habit): every bucket and table
 * of the service starts from these, so a new one cannot forget encryption, TLS or retention.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { TableDefinition } from '../shared/infra/definitions.ts';

export interface SecureBucketOptions {
  /** Customer-managed key; omit only for the access-log bucket (S3 server access logging needs SSE-S3). */
  readonly encryptionKey?: kms.IKey;
  /** Where server access logs go; omit only for the access-log bucket itself. */
  readonly serverAccessLogsBucket?: s3.IBucket;
  readonly serverAccessLogsPrefix?: string;
  /** Objects expire after this many days (lifecycle rule). */
  readonly expireAfterDays?: number;
  /** Objects under a prefix expire after so many days (instead of, or on top of, the whole bucket). */
  readonly prefixExpirations?: readonly { readonly prefix: string; readonly days: number }[];
  /** Keep prior versions (for buckets whose objects are the product: results). */
  readonly versioned?: boolean;
  /**
   * Versioned buckets only: noncurrent versions (overwritten or deleted objects) of every key expire
   * after this many days, so a delete by the service (e.g. a swept manifest) is final after the
   * undo window instead of never.
   */
  readonly noncurrentVersionsExpireAfterDays?: number;
  /** Noncurrent versions under these prefixes go sooner (what an erasure rewrote must not linger). */
  readonly noncurrentPrefixExpirations?: ReadonlyArray<{ prefix: string; days: number }>;
}

export function secureBucketProps(options: SecureBucketOptions = {}): s3.BucketProps {
  const lifecycleRules: s3.LifecycleRule[] = [
    // Interrupted uploads of a list or drop would otherwise linger, invisible and billed.
    { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
  ];
  const expire = (id: string, days: number, prefix?: string): s3.LifecycleRule => ({
    id,
    ...(prefix ? { prefix } : {}),
    expiration: Duration.days(days),
    ...(options.versioned ? { noncurrentVersionExpiration: Duration.days(days) } : {}),
  });
  if (options.expireAfterDays !== undefined) lifecycleRules.push(expire('expire', options.expireAfterDays));
  for (const { prefix, days } of options.prefixExpirations ?? []) {
    lifecycleRules.push(expire(`expire-${prefix.replace(/[^A-Za-z0-9]/g, '')}`, days, prefix));
  }
  if (options.versioned && options.noncurrentVersionsExpireAfterDays !== undefined) {
    lifecycleRules.push({
      id: 'expire-noncurrent-versions',
      noncurrentVersionExpiration: Duration.days(options.noncurrentVersionsExpireAfterDays),
    });
  }
  for (const { prefix, days } of options.versioned ? (options.noncurrentPrefixExpirations ?? []) : []) {
    lifecycleRules.push({
      id: `expire-noncurrent-${prefix.replace(/[^A-Za-z0-9]/g, '')}`,
      prefix,
      noncurrentVersionExpiration: Duration.days(days),
    });
  }
  if (options.versioned) {
    // Expiry leaves delete markers on a versioned bucket; drop them once nothing is under them.
    lifecycleRules.push({ id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true });
  }
  return {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    ...(options.encryptionKey
      ? {
          encryption: s3.BucketEncryption.KMS,
          encryptionKey: options.encryptionKey,
          // One KMS call per bucket key instead of per object: the main KMS cost lever.
          bucketKeyEnabled: true,
        }
      : { encryption: s3.BucketEncryption.S3_MANAGED }),
    versioned: options.versioned ?? false,
    lifecycleRules,
    ...(options.serverAccessLogsBucket
      ? {
          serverAccessLogsBucket: options.serverAccessLogsBucket,
          serverAccessLogsPrefix: options.serverAccessLogsPrefix,
        }
      : {}),
    removalPolicy: RemovalPolicy.RETAIN,
    autoDeleteObjects: false,
  };
}

export interface SecureTableOptions {
  readonly definition: TableDefinition;
  readonly encryptionKey: kms.IKey;
}

export function secureTableProps({ definition, encryptionKey }: SecureTableOptions): dynamodb.TableProps {
  return {
    partitionKey: { name: definition.partitionKey, type: dynamodb.AttributeType.STRING },
    ...(definition.sortKey
      ? { sortKey: { name: definition.sortKey, type: dynamodb.AttributeType.STRING } }
      : {}),
    ...(definition.ttlAttribute ? { timeToLiveAttribute: definition.ttlAttribute } : {}),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  };
}
