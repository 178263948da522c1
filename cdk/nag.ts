/**
 * cdk-nag v3 wiring. The AwsSolutions and Serverless packs run as CDK policy-validation plugins
 * during synth (`Validations.of(app).addPlugins`), and every exception is a `Validations.of(construct)
 * .acknowledge({ id, reason })` placed next to the construct that needs it, with its reason.
 *
 * v3 matches acknowledgements by exact id (no prefix matching), so IAM5 findings on
 * prefix-scoped resources are acknowledged with the exact finding id, computed the same way
 * cdk-nag computes it (see iamResourceFinding).
 */
import { type App, Stack, Validations } from 'aws-cdk-lib';
import type { CfnPolicy } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** The rule packs the app is held to. */
export function nagPacks(app?: App): NagPack[] {
  return [new AwsSolutionsChecks(app, { verbose: true }), new ServerlessChecks(app, { verbose: true })];
}

export function applyNag(app: App): NagPack[] {
  const packs = nagPacks(app);
  Validations.of(app).addPlugins(...packs);
  return packs;
}

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** cdk-nag's flattening of a CloudFormation reference into the string used in finding ids. */
export function flattenCfnReference(reference: unknown): string {
  const visit = (node: unknown): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\${/g, '<').replace(/}/g, '>');
    if (typeof node === 'object' && node !== null) {
      const o = node as Record<string, unknown>;
      if (o['Fn::Join']) {
        const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
        return items.map(visit).join(delimiter);
      }
      if (o['Fn::Sub']) return visit(o['Fn::Sub']);
      if (o['Fn::GetAtt']) {
        const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
        return `<${visit(resource)}.${visit(attribute)}>`;
      }
      if (o['Fn::ImportValue']) return visit(o['Fn::ImportValue']);
      if (o.Ref) return `<${visit(o.Ref)}>`;
    }
    return JSON.stringify(node);
  };
  return visit(reference);
}

/** The exact AwsSolutions-IAM5 finding id a resource with a wildcard produces. */
export function iamResourceFinding(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`;
}

/** Acknowledges the IAM5 finding for one wildcard resource (an S3 prefix, a function's versions). */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  acknowledge(scope, iamResourceFinding(scope, resource), reason);
}

/**
 * Acknowledges every wildcard resource of one policy whose flattened ARN matches `only`, with one
 * reason. For CDK-generated policies whose ARNs embed derived tokens (e.g. the Distributed Map's
 * execution ARNs), where writing the finding id by hand would copy CDK internals.
 */
export function acknowledgeWildcardResourcesIn(policy: IConstruct, only: RegExp, reason: string): string[] {
  const cfn = policy.node.defaultChild as CfnPolicy | undefined;
  if (!cfn) throw new Error(`${policy.node.path} has no CfnPolicy to acknowledge findings on`);
  const document = Stack.of(policy).resolve(cfn.policyDocument) as {
    Statement?: { Effect?: string; Resource?: unknown }[];
  };
  const ids: string[] = [];
  for (const statement of document.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
    for (const resource of resources) {
      const flat = flattenCfnReference(resource);
      if (!flat.includes('*') || !only.test(flat)) continue;
      const id = `AwsSolutions-IAM5[Resource::${flat}]`;
      acknowledge(policy, id, reason);
      ids.push(id);
    }
  }
  return ids;
}
