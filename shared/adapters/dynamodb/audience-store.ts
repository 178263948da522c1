/**
 * Partner audiences in DynamoDB (the Audiences table, partition key `pk` only):
 * - `catalog#{partnerId}`: the catalog (profile, key id, segments with their current versions,
 *   base size, retired versions awaiting sweep), written with an optimistic revision check;
 * - `member#{partnerId}#{keyId}#{key}`: one item an identifier of a partner person, where key =
 *   base64url HMAC-SHA256(pepper, digest): `k` = its kind, `m` = a map from each person key it
 *   identifies (the keyed value of that person's primary identifier) to the string set of its
 *   `segmentId#version` tokens; on the item of a person's own key, `l` = the keyed values of that
 *   person's other identifiers (what an erasure follows). Items written before people had several
 *   identifiers hold only `s` (the tokens): they read as an email that is its own person;
 * - `lock#{partnerId}`: the ingest lock, expiring so a crashed ingest cannot wedge a partner, with
 *   the embedded stack's start that took it (recovery releases a lock of a start that is gone).
 * A segment is replaced by writing tokens of a new version and then flipping the catalog: a
 * reader filters tokens by the versions of the snapshot it pinned, so it never sees a mix.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AudienceSnapshot, IdentifierKind, PartnerCatalog } from '../../domain/model.ts';
import type {
  AudienceStore,
  AudienceWriter,
  LockState,
  MemberHit,
  MemberRecord,
} from '../../domain/ports.ts';
import { type BatchOptions, type BatchStats, batchGetAll, batchWriteAll } from './batch.ts';

const catalogPk = (partnerId: string) => `catalog#${partnerId}`;
const memberPk = (partnerId: string, keyId: string, key: string) => `member#${partnerId}#${keyId}#${key}`;
const REGISTRY_PK = 'partners';
const lockPk = (partnerId: string) => `lock#${partnerId}`;

export function snapshotOf(catalog: PartnerCatalog): AudienceSnapshot {
  return {
    partnerId: catalog.partnerId,
    profile: catalog.profile,
    keyId: catalog.keyId,
    baseSize: catalog.baseSize,
    publishedBaseSize: catalog.publishedBaseSize ?? null,
    maxSegmentsPerMember: catalog.maxSegmentsPerMember,
    ...(catalog.erasures ? { erasures: catalog.erasures } : {}),
    segments: catalog.segments.map((s) => ({ ...s })),
    ...(catalog.filter ? { filter: { ...catalog.filter } } : {}),
  };
}

export class DynamoAudienceStore implements AudienceStore, AudienceWriter {
  readonly stats: BatchStats = {
    getRequests: 0,
    getKeys: 0,
    writeRequests: 0,
    writeItems: 0,
    retries: 0,
  };

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly batch: BatchOptions = {},
    private readonly now: () => Date = () => new Date(),
    /** The embedded stack's per-start id, recorded with each lock taken (absent in AWS). */
    private readonly instance?: string,
  ) {}

  async readCatalog(partnerId: string): Promise<PartnerCatalog | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { pk: { S: catalogPk(partnerId) } },
        ConsistentRead: true,
      }),
    );
    const body = out.Item?.catalog?.S;
    return body ? (JSON.parse(body) as PartnerCatalog) : undefined;
  }

  async writeCatalog(catalog: PartnerCatalog, expectedRevision: number): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      pk: { S: catalogPk(catalog.partnerId) },
      revision: { N: String(catalog.revision) },
      catalog: { S: JSON.stringify(catalog) },
    };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ...(expectedRevision === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: 'revision = :expected',
                ExpressionAttributeValues: { ':expected': { N: String(expectedRevision) } },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async snapshot(partnerId: string): Promise<AudienceSnapshot | undefined> {
    const catalog = await this.readCatalog(partnerId);
    return catalog ? snapshotOf(catalog) : undefined;
  }

  async memberships(
    snapshot: AudienceSnapshot,
    keys: readonly string[],
  ): Promise<ReadonlyArray<readonly MemberHit[]>> {
    const keyId = snapshot.keyId ?? '';
    const records = await this.readMembers(snapshot.partnerId, keyId, keys);
    const pinned = new Set(snapshot.segments.map((s) => `${s.segmentId}#${s.version}`));
    return keys.map((key) => {
      const record = records.get(key);
      if (!record) return [];
      const hits: MemberHit[] = [];
      for (const { person, tokens } of record.people) {
        const segments: string[] = [];
        for (const token of tokens) {
          if (pinned.has(token)) segments.push(token.slice(0, token.lastIndexOf('#')));
        }
        if (segments.length > 0) hits.push({ person, kind: record.kind, segments });
      }
      return hits;
    });
  }

  async readMembers(
    partnerId: string,
    keyId: string,
    keys: readonly string[],
  ): Promise<Map<string, MemberRecord>> {
    const prefix = memberPk(partnerId, keyId, '');
    const unique = [...new Set(keys)];
    const items = await batchGetAll(
      this.client,
      this.table,
      unique.map((key) => ({ pk: { S: prefix + key } })),
      'pk',
      { ...this.batch, stats: this.stats },
    );
    const out = new Map<string, MemberRecord>();
    for (const [pk, item] of items) {
      const key = pk.slice(prefix.length);
      const people = item.m?.M
        ? Object.entries(item.m.M).map(([person, v]) => ({ person, tokens: v.SS ?? [] }))
        : [{ person: key, tokens: item.s?.SS ?? [] }];
      const links = item.l?.SS;
      out.set(key, {
        key,
        kind: (item.k?.S ?? 'email') as IdentifierKind,
        people,
        ...(links && links.length > 0 ? { links } : {}),
      });
    }
    return out;
  }

  async writeMembers(partnerId: string, keyId: string, records: readonly MemberRecord[]): Promise<void> {
    await batchWriteAll(
      this.client,
      this.table,
      records.map((r) => {
        const pk = { S: memberPk(partnerId, keyId, r.key) };
        const people = r.people.filter((p) => p.tokens.length > 0);
        if (people.length === 0) return { DeleteRequest: { Key: { pk } } };
        const m: Record<string, AttributeValue> = {};
        for (const p of people) m[p.person] = { SS: [...p.tokens] };
        // Links belong to the item's own person: they go when that person leaves the item.
        const links = people.some((p) => p.person === r.key) ? [...new Set(r.links ?? [])] : [];
        return {
          PutRequest: {
            Item: { pk, k: { S: r.kind }, m: { M: m }, ...(links.length > 0 ? { l: { SS: links } } : {}) },
          },
        };
      }),
      { ...this.batch, stats: this.stats },
    );
  }

  async acquireLock(partnerId: string, owner: string, ttlSeconds: number): Promise<boolean> {
    const nowSeconds = Math.floor(this.now().getTime() / 1000);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            pk: { S: lockPk(partnerId) },
            owner: { S: owner },
            expiresAt: { N: String(nowSeconds + ttlSeconds) },
            ...(this.instance ? { instance: { S: this.instance } } : {}),
          },
          // Free, expired (a crashed holder), or already ours.
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': { N: String(nowSeconds) }, ':owner': { S: owner } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async registerPartner(partnerId: string): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.table,
        Key: { pk: { S: REGISTRY_PK } },
        UpdateExpression: 'ADD ids :id',
        ExpressionAttributeValues: { ':id': { SS: [partnerId] } },
      }),
    );
  }

  async listPartners(): Promise<string[]> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: { pk: { S: REGISTRY_PK } }, ConsistentRead: true }),
    );
    return [...(out.Item?.ids?.SS ?? [])].sort();
  }

  async readLock(partnerId: string): Promise<LockState | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { pk: { S: lockPk(partnerId) } },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    if (!item?.owner?.S) return undefined;
    return {
      owner: item.owner.S,
      expiresAt: Number(item.expiresAt?.N ?? 0),
      ...(item.instance?.S ? { instance: item.instance.S } : {}),
    };
  }

  async releaseLock(partnerId: string, owner: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { pk: { S: lockPk(partnerId) } },
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': { S: owner } },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
