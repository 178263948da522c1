/**
 * Lists, matches and audience uploads in the Jobs table: pk = `tenant#{tenantId}`,
 * sk = `{kind}#{id}`. Every read names the tenant, so one tenant cannot address another's record.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { timeOrderedIdFloor } from '../../domain/ids.ts';
import type { JobRecord } from '../../domain/jobs.ts';
import { decodeCursor, encodeCursor } from '../../domain/page-cursor.ts';
import type { JobPage, JobPageOf, JobStore } from '../../domain/ports.ts';

type Kind = JobRecord['kind'];
type RecordOf<K extends Kind> = Extract<JobRecord, { kind: K }>;

const idOf = (r: JobRecord) => (r.kind === 'list' ? r.listId : r.kind === 'match' ? r.matchId : r.audienceId);
const keyOf = (kind: Kind, tenantId: string, id: string) => ({
  pk: `tenant#${tenantId}`,
  sk: `${kind}#${id}`,
});

export class DynamoJobStore implements JobStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    private readonly retentionDays = 30,
    /** The embedded stack's per-start id, stamped on every record written (absent in AWS). */
    private readonly instance?: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async create(record: JobRecord): Promise<void> {
    // A backstop a day after retention: the maintenance sweep deletes the record (and everything
    // of it) at the retention age itself, through the same path as a deletion.
    const expiresAt = Math.floor(Date.now() / 1000) + (this.retentionDays + 1) * 86_400;
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...keyOf(record.kind, record.tenantId, idOf(record)),
          expiresAt,
          record: this.instance ? { ...record, instance: this.instance } : record,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get<K extends Kind>(kind: K, tenantId: string, id: string): Promise<RecordOf<K> | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keyOf(kind, tenantId, id), ConsistentRead: true }),
    );
    return out.Item?.record as RecordOf<K> | undefined;
  }

  async update<K extends Kind>(
    kind: K,
    tenantId: string,
    id: string,
    patch: Partial<RecordOf<K>>,
    expectedStatus?: readonly string[],
  ): Promise<boolean> {
    const names: Record<string, string> = { '#record': 'record' };
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    let i = 0;
    const stamped = {
      ...patch,
      updatedAt: new Date().toISOString(),
      ...(this.instance ? { instance: this.instance } : {}),
    };
    for (const [field, value] of Object.entries(stamped)) {
      if (value === undefined) continue;
      names[`#f${i}`] = field;
      values[`:v${i}`] = value;
      sets.push(`#record.#f${i} = :v${i}`);
      i++;
    }
    let condition = 'attribute_exists(pk)';
    if (expectedStatus?.length) {
      names['#status'] = 'status';
      const slots = expectedStatus.map((status, j) => {
        values[`:s${j}`] = status;
        return `:s${j}`;
      });
      condition += ` AND #record.#status IN (${slots.join(', ')})`;
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(kind, tenantId, id),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async remove(kind: Kind, tenantId: string, id: string): Promise<boolean> {
    const out = await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: keyOf(kind, tenantId, id), ReturnValues: 'ALL_OLD' }),
    );
    return out.Attributes !== undefined;
  }

  async shardDone(tenantId: string, matchId: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keyOf('match', tenantId, matchId),
        UpdateExpression: 'ADD #record.#progress.#done :one',
        ExpressionAttributeNames: { '#record': 'record', '#progress': 'progress', '#done': 'shardsDone' },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }

  async countMatchesInFlight(tenantId: string, since: Date): Promise<number> {
    let count = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          // Ids start with their creation time: only the matches created in the window are read.
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          FilterExpression: '#record.#status IN (:queued, :running)',
          ExpressionAttributeNames: { '#record': 'record', '#status': 'status' },
          ExpressionAttributeValues: {
            ':pk': `tenant#${tenantId}`,
            ':from': `match#${timeOrderedIdFloor(since)}`,
            // '~' sorts after every id character.
            ':to': 'match#~',
            ':queued': 'QUEUED',
            ':running': 'RUNNING',
          },
          Select: 'COUNT',
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      count += out.Count ?? 0;
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return count;
  }

  async listInFlight(): Promise<JobRecord[]> {
    const records: JobRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: '#record.#status IN (:hashing, :ingesting, :queued, :running)',
          ExpressionAttributeNames: { '#record': 'record', '#status': 'status' },
          ExpressionAttributeValues: {
            ':hashing': 'HASHING',
            ':ingesting': 'INGESTING',
            ':queued': 'QUEUED',
            ':running': 'RUNNING',
          },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of out.Items ?? []) records.push(item.record as JobRecord);
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  async listCreatedBefore<K extends Kind>(kind: K, before: Date): Promise<RecordOf<K>[]> {
    const records: RecordOf<K>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'begins_with(sk, :kind) AND #record.createdAt < :before',
          ExpressionAttributeNames: { '#record': 'record' },
          ExpressionAttributeValues: { ':kind': `${kind}#`, ':before': before.toISOString() },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of out.Items ?? []) records.push(item.record as RecordOf<K>);
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  async list<K extends Kind>(kind: K, tenantId: string, page: JobPage = {}): Promise<JobPageOf<RecordOf<K>>> {
    // Decoded before any request: a cursor the server did not issue is the caller's mistake.
    const startKey = page.cursor ? decodeCursor(page.cursor, kind) : undefined;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :kind)',
        ExpressionAttributeValues: { ':pk': `tenant#${tenantId}`, ':kind': `${kind}#` },
        // Ids start with their creation time: newest first, straight from the index.
        ScanIndexForward: false,
        Limit: page.limit ?? 50,
        // The cursor carries only the sort key; the partition is always the caller's own.
        ...(startKey ? { ExclusiveStartKey: { pk: `tenant#${tenantId}`, sk: startKey } } : {}),
      }),
    );
    const records = (out.Items ?? []).map((i) => i.record as RecordOf<K>);
    const last = out.LastEvaluatedKey?.sk as string | undefined;
    return { records, ...(last ? { cursor: encodeCursor(last) } : {}) };
  }
}
