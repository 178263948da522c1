/**
 * The Ledger table: `budget#{advertiser}#{partner}` / `budget` holds epsilon spent, spent with a
 * conditional update (dynalite has no transactions, and one conditional write is all this needs);
 * `audit#{tenant}` / `{at}#{matchId}` holds the audit trail.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DomainError } from '../../domain/errors.ts';
import type { AuditEntry, BudgetState, Ledger, MatchSetsEntry } from '../../domain/ports.ts';

const budgetKey = (advertiserId: string, partnerId: string) => ({
  pk: `budget#${advertiserId}#${partnerId}`,
  sk: 'budget',
});

const lockKey = (advertiserId: string, partnerId: string) => ({
  pk: `release-lock#${advertiserId}#${partnerId}`,
  sk: 'lock',
});

/** Budgets are sums of decimal fractions: compare in micro-epsilons to stay exact. */
const micro = (epsilon: number) => Math.round(epsilon * 1_000_000);

export class DynamoLedger implements Ledger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    private readonly auditRetentionDays = 400,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async budget(advertiserId: string, partnerId: string, epsilonBudget: number): Promise<BudgetState> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: budgetKey(advertiserId, partnerId),
        ConsistentRead: true,
      }),
    );
    return { epsilonSpent: ((out.Item?.spentMicro as number | undefined) ?? 0) / 1_000_000, epsilonBudget };
  }

  async spend(
    advertiserId: string,
    partnerId: string,
    matchId: string,
    epsilon: number,
    epsilonBudget: number,
  ): Promise<BudgetState> {
    const cost = micro(epsilon);
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: budgetKey(advertiserId, partnerId),
          UpdateExpression: 'SET spentMicro = if_not_exists(spentMicro, :zero) + :cost ADD matchIds :match',
          // Room left, and this match not yet charged (a retried reduce must not pay twice).
          ConditionExpression:
            '(attribute_not_exists(spentMicro) OR spentMicro <= :ceiling) AND NOT contains(matchIds, :matchId)',
          ExpressionAttributeValues: {
            ':zero': 0,
            ':cost': cost,
            ':ceiling': micro(epsilonBudget) - cost,
            ':match': new Set([matchId]),
            ':matchId': matchId,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { epsilonSpent: (out.Attributes?.spentMicro as number) / 1_000_000, epsilonBudget };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.doc.send(
        new GetCommand({
          TableName: this.table,
          Key: budgetKey(advertiserId, partnerId),
          ConsistentRead: true,
        }),
      );
      const state = {
        epsilonSpent: ((current.Item?.spentMicro as number | undefined) ?? 0) / 1_000_000,
        epsilonBudget,
      };
      if ((current.Item?.matchIds as Set<string> | undefined)?.has(matchId)) return state;
      throw new DomainError(
        'privacy-budget-exhausted',
        `The privacy budget against this partner is spent: ${state.epsilonSpent} of ${epsilonBudget} used, this match needs ${epsilon}. It is never refilled automatically; ask the operator.`,
      );
    }
  }

  async recordMatchSets(entry: MatchSetsEntry, expiresAt: number): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `matchsets#${entry.tenantId}#${entry.partnerId}`,
          sk: `${entry.createdAt}#${entry.matchId}`,
          entry,
          expiresAt,
        },
      }),
    );
  }

  async matchSets(advertiserId: string, partnerId: string, now: Date): Promise<MatchSetsEntry[]> {
    const entries: MatchSetsEntry[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          // TTL deletes lazily in AWS and never in dynalite: expiry is enforced on read.
          FilterExpression: 'expiresAt > :now',
          ExpressionAttributeValues: {
            ':pk': `matchsets#${advertiserId}#${partnerId}`,
            ':now': Math.floor(now.getTime() / 1000),
          },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) entries.push(item.entry as MatchSetsEntry);
      start = out.LastEvaluatedKey;
    } while (start);
    return entries;
  }

  async lockRelease(
    advertiserId: string,
    partnerId: string,
    owner: string,
    ttlSeconds: number,
  ): Promise<boolean> {
    const now = Math.floor(Date.now() / 1000);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...lockKey(advertiserId, partnerId), owner, expiresAt: now + ttlSeconds },
          // Free, expired (a crashed holder), or already ours.
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': now, ':owner': owner },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async unlockRelease(advertiserId: string, partnerId: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: lockKey(advertiserId, partnerId),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async audit(entry: AuditEntry): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `audit#${entry.tenantId}`,
          sk: `${entry.at}#${entry.matchId}#${entry.event}`,
          entry,
          expiresAt: Math.floor(Date.now() / 1000) + this.auditRetentionDays * 86_400,
        },
      }),
    );
  }

  async auditTrail(tenantId: string, limit = 200): Promise<AuditEntry[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `audit#${tenantId}` },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((i) => i.entry as AuditEntry);
  }
}
