/**
 * The web console in the CDK app: CloudFront in front of a private bucket with security headers,
 * a Cognito browser client with the code grant only and exact callback URLs, and CORS for the
 * console's origin only on the HTTP API.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SynthesizedApp, synthForTest } from './synth.ts';

// biome-ignore lint/suspicious/noExplicitAny: template JSON
type Json = any;

let app: SynthesizedApp;
let resources: Record<string, { Type: string; Properties: Json }>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

beforeAll(() => {
  app = synthForTest();
  resources = app.statelessTemplate.toJSON().Resources;
});

describe('web console hosting', () => {
  it('serves a private, encrypted bucket through CloudFront over HTTPS only, with origin access control', () => {
    const t = app.statelessTemplate;
    const [[bucketId]] = ofType('AWS::S3::Bucket') as [[string, unknown]];
    t.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: Match.anyValue(),
    });
    t.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    t.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          AllowedMethods: ['GET', 'HEAD'],
        }),
      }),
    });
    // Only CloudFront reads the bucket, for this distribution, and TLS is required.
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudfront.amazonaws.com' },
            Action: 's3:GetObject',
            Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  it('sends a strict CSP, HSTS, nosniff, no framing and no referrer', () => {
    const [[, policy]] = ofType('AWS::CloudFront::ResponseHeadersPolicy') as [[string, Json]];
    const headers = policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    const csp: string = headers.ContentSecurityPolicy.ContentSecurityPolicy;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(headers.StrictTransportSecurity.AccessControlMaxAgeSec).toBeGreaterThanOrEqual(31_536_000);
    expect(headers.FrameOptions.FrameOption).toBe('DENY');
    expect(headers.ReferrerPolicy.ReferrerPolicy).toBe('no-referrer');
    expect(headers.ContentTypeOptions.Override).toBe(true);
  });

  it('signs in with a Cognito browser client: code grant (PKCE), no secret, no implicit flow, one exact callback', () => {
    const clients = ofType('AWS::Cognito::UserPoolClient');
    expect(clients).toHaveLength(1);
    const client = (clients[0] as [string, Json])[1].Properties;
    expect(client.AllowedOAuthFlows).toEqual(['code']);
    expect(client.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect(client.GenerateSecret).toBe(false);
    expect(client.ExplicitAuthFlows).toEqual(['ALLOW_REFRESH_TOKEN_AUTH']);
    expect(client.SupportedIdentityProviders).toEqual(['COGNITO']);
    expect(client.CallbackURLs).toHaveLength(1);
    const callback = JSON.stringify(client.CallbackURLs[0]);
    expect(callback).toContain('https://');
    expect(callback).toContain('DomainName');
    expect(callback).not.toContain('*');
    expect(client.ReadAttributes).toEqual(expect.arrayContaining(['custom:tenant_id', 'custom:role']));
    expect(client.WriteAttributes).toEqual(['email']);
    app.statelessTemplate.resourceCountIs('AWS::Cognito::UserPoolDomain', 1);
    // The API accepts the console's tokens.
    const [[, authorizer]] = ofType('AWS::ApiGatewayV2::Authorizer') as [[string, Json]];
    expect(JSON.stringify(authorizer.Properties.JwtConfiguration.Audience)).toContain(
      (clients[0] as [string, Json])[0],
    );
  });

  it("limits the HTTP API's CORS to the console's origin", () => {
    const [[, api]] = ofType('AWS::ApiGatewayV2::Api') as [[string, Json]];
    const cors = api.Properties.CorsConfiguration;
    expect(cors.AllowOrigins).toHaveLength(1);
    expect(JSON.stringify(cors.AllowOrigins)).toContain('DomainName');
    expect(JSON.stringify(cors.AllowOrigins)).not.toContain('"*"');
    expect(cors.AllowCredentials ?? false).toBe(false);
  });

  it('outputs what the console build is published with, and adds no Lambda function', () => {
    const outputs = Object.keys(app.statelessTemplate.toJSON().Outputs);
    for (const name of ['ConsoleUrl', 'ConsoleClientId', 'ConsoleSignInDomain', 'ConsoleBucketName'])
      expect(outputs).toContain(name);
    expect(ofType('AWS::Lambda::Function').filter(([id]) => /Console|Deployment/.test(id))).toEqual([]);
  });
});
