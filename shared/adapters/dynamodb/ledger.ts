/**
 * The Ledger table.
 * - `budget#{kind}#{partner}[#{advertiser}]` / `{period}`: one budget account in one period, in
 *   integer micro-rho: `allowance` (fixed at first use), `granted`, `spent`, and `left`, kept so a
 *   spend is one conditional update (`left >= cost`: DynamoDB conditions cannot add). dynalite has
 *   no transactions, and a single conditional write per account is all a spend needs. `charges`
 *   makes a spend idempotent per match, `grants` a grant per grant id.
 * - `releases#{advertiser}#{partner}` / `{at}#{matchId}`: earlier releases, for replays.
 * - `audit#{tenant}` / `{at}#{id}#{event}`: the audit trail.
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
import type { AuditEntry, Ledger, ReleaseEntry } from '../../domain/ports.ts';
import {
  type Budget,
  type BudgetAccount,
  budgetExhaustedDetail,
  type MicroRho,
} from '../../domain/privacy/budget.ts';

const accountKey = (a: BudgetAccount) => ({
  pk: `budget#${a.kind}#${a.partnerId}${a.advertiserId ? `#${a.advertiserId}` : ''}`,
  sk: a.period,
});

export class DynamoLedger implements Ledger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    private readonly auditRetentionDays = 400,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  private async read(account: BudgetAccount) {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: accountKey(account), ConsistentRead: true }),
    );
    return out.Item;
  }

  private stateOf(
    account: BudgetAccount,
    item: Record<string, unknown> | undefined,
    allowance: MicroRho,
  ): Budget {
    return {
      account,
      allowance: (item?.allowance as number | undefined) ?? allowance,
      granted: (item?.granted as number | undefined) ?? 0,
      spent: (item?.spent as number | undefined) ?? 0,
    };
  }

  /** Creates the account of the period with the deployment's allowance, unless it exists. */
  private async open(account: BudgetAccount, allowance: MicroRho): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...accountKey(account), allowance, granted: 0, spent: 0, left: allowance },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** One conditional update of an account; undefined when its condition does not hold. */
  private async conditionalUpdate(
    account: BudgetAccount,
    update: string,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: accountKey(account),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#left': 'left' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes ?? {};
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async budget(account: BudgetAccount, allowance: MicroRho): Promise<Budget> {
    return this.stateOf(account, await this.read(account), allowance);
  }

  async spend(
    account: BudgetAccount,
    chargeId: string,
    cost: MicroRho,
    allowance: MicroRho,
  ): Promise<Budget> {
    await this.open(account, allowance);
    // Room left, and this charge not yet made (a retried reduce must not pay twice).
    const after = await this.conditionalUpdate(
      account,
      'SET spent = spent + :cost, #left = #left - :cost ADD charges :charge',
      '#left >= :cost AND NOT contains(charges, :chargeId)',
      { ':cost': cost, ':charge': new Set([chargeId]), ':chargeId': chargeId },
    );
    if (after) return this.stateOf(account, after, allowance);
    const item = await this.read(account);
    const state = this.stateOf(account, item, allowance);
    if ((item?.charges as Set<string> | undefined)?.has(chargeId)) return state;
    throw new DomainError('privacy-budget-exhausted', budgetExhaustedDetail(state, cost));
  }

  async refund(account: BudgetAccount, chargeId: string, cost: MicroRho): Promise<void> {
    await this.conditionalUpdate(
      account,
      'SET spent = spent - :cost, #left = #left + :cost DELETE charges :charge',
      'contains(charges, :chargeId)',
      { ':cost': cost, ':charge': new Set([chargeId]), ':chargeId': chargeId },
    );
  }

  async grant(
    account: BudgetAccount,
    grantId: string,
    amount: MicroRho,
    allowance: MicroRho,
  ): Promise<Budget> {
    await this.open(account, allowance);
    const after = await this.conditionalUpdate(
      account,
      'SET granted = granted + :amount, #left = #left + :amount ADD grants :grant',
      'NOT contains(grants, :grantId)',
      { ':amount': amount, ':grant': new Set([grantId]), ':grantId': grantId },
    );
    return after ? this.stateOf(account, after, allowance) : this.budget(account, allowance);
  }

  async recordRelease(entry: ReleaseEntry, expiresAt: number): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `releases#${entry.tenantId}#${entry.partnerId}`,
          sk: `${entry.createdAt}#${entry.matchId}`,
          entry,
          expiresAt,
        },
      }),
    );
  }

  async releases(advertiserId: string, partnerId: string, now: Date): Promise<ReleaseEntry[]> {
    const entries: ReleaseEntry[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          // TTL deletes lazily in AWS and never in dynalite: expiry is enforced on read.
          FilterExpression: 'expiresAt > :now',
          ExpressionAttributeValues: {
            ':pk': `releases#${advertiserId}#${partnerId}`,
            ':now': Math.floor(now.getTime() / 1000),
          },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) entries.push(item.entry as ReleaseEntry);
      start = out.LastEvaluatedKey;
    } while (start);
    return entries;
  }

  async forgetRelease(advertiserId: string, partnerId: string, matchId: string): Promise<void> {
    const pk = `releases#${advertiserId}#${partnerId}`;
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        if ((item.entry as ReleaseEntry).matchId === matchId)
          await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk, sk: item.sk } }));
      }
      start = out.LastEvaluatedKey;
    } while (start);
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
