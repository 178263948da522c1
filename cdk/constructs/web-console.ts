/**
 * The web console in AWS: a private S3 bucket behind CloudFront (origin access control, HTTPS only,
 * security headers with a strict CSP), a Cognito browser app client (authorization code grant with
 * PKCE, no secret, no implicit flow, exactly the console's URL as callback) on the hosted sign-in
 * domain, and CORS for the console's origin only on the HTTP API (set where the API is built, from
 * `origin`).
 *
 * Why S3 + CloudFront rather than the API origin: the console is static files; served from the edge
 * they cost no Lambda invocation and no API Gateway request, are cached, and get their response
 * headers (CSP, HSTS, frame denial) from one policy, while the bucket stays private (OAC) and the
 * API keeps serving JSON only.
 *
 * The build and its config.json (API URL, client id, sign-in domain: this stack's outputs) are
 * published with `npm run console:build` and `aws s3 sync`, as is the upload buckets' CORS rule for
 * this origin (docs/deploying.md): CDK's BucketDeployment and AwsCustomResource would add Lambda
 * functions with wildcard actions and AWS managed policies, which this app's least-privilege
 * invariants (test/infra/stacks.test.ts) refuse, and a config written by CloudFront itself would
 * make the distribution depend on the API and client that depend on its domain name.
 */
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.ts';
import { secureBucketProps } from '../secure-defaults.ts';

export interface WebConsoleProps {
  readonly userPool: cognito.IUserPool;
  /** Hosted sign-in domain prefix (context `consoleDomainPrefix`; default from the account id). */
  readonly domainPrefix?: string;
}

/** The console's CSP in AWS: its own files, the API and presigned S3 URLs, the Cognito token endpoint. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' https://*.amazonaws.com https://*.amazoncognito.com",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export class WebConsole extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly client: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  /** `https://<distribution domain>`: the only origin CORS allows. */
  readonly origin: string;
  private readonly headers: cloudfront.ResponseHeadersPolicy;
  private readonly bucketOrigin: cloudfront.IOrigin;

  constructor(scope: Construct, id: string, props: WebConsoleProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...secureBucketProps(),
      // Only built files live here: publishing writes them again.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.domain = new cognito.UserPoolDomain(this, 'SignInDomain', {
      userPool: props.userPool,
      cognitoDomain: { domainPrefix: props.domainPrefix ?? `onboard-console-${Aws.ACCOUNT_ID}` },
    });
    this.headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      securityHeadersBehavior: {
        contentSecurityPolicy: { override: true, contentSecurityPolicy: CONSOLE_CSP },
        strictTransportSecurity: {
          override: true,
          accessControlMaxAge: Duration.days(730),
          includeSubdomains: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { override: true, frameOption: cloudfront.HeadersFrameOption.DENY },
        referrerPolicy: { override: true, referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER },
      },
    });
    this.bucketOrigin = origins.S3BucketOrigin.withOriginAccessControl(this.bucket);
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Audience onboarding web console',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: this.bucketOrigin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.headers,
        compress: true,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
    });
    this.origin = `https://${this.distribution.distributionDomainName}`;
    const callback = `${this.origin}/`;
    this.client = new cognito.UserPoolClient(this, 'BrowserClient', {
      userPool: props.userPool,
      generateSecret: false,
      // The hosted sign-in page only: no password or SRP flows from the browser.
      authFlows: {},
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
        callbackUrls: [callback],
        logoutUrls: [callback],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(12),
      readAttributes: new cognito.ClientAttributes()
        .withStandardAttributes({ email: true, emailVerified: true })
        .withCustomAttributes('tenant_id', 'role'),
      // Users must never be able to rewrite their own tenant or role.
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true }),
    });
    // Only refresh tokens besides the hosted sign-in (CDK leaves the list out when no flow is on,
    // which Cognito reads as SRP and custom auth allowed).
    (this.client.node.defaultChild as cognito.CfnUserPoolClient).explicitAuthFlows = [
      'ALLOW_REFRESH_TOKEN_AUTH',
    ];
    const stack = Stack.of(this);
    new CfnOutput(stack, 'ConsoleUrl', { value: callback, description: 'Web console' });
    new CfnOutput(stack, 'ConsoleClientId', { value: this.client.userPoolClientId });
    new CfnOutput(stack, 'ConsoleSignInDomain', { value: this.domain.baseUrl() });
    new CfnOutput(stack, 'ConsoleBucketName', {
      value: this.bucket.bucketName,
      description: 'Publish the console build here (docs/deploying.md)',
    });
    this.acknowledgeFindings();
  }

  private acknowledgeFindings(): void {
    acknowledge(
      this.bucket,
      'AwsSolutions-S1',
      'Holds only the public console build (no data); CloudFront is its only reader, through OAC.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR1',
      'Advertisers and partners sign in from anywhere; access is by Cognito sign-in, not geography.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR2',
      'Static files only; every data call goes to the HTTP API with its JWT authorizer and throttling.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR3',
      'Static files only: no tenant data passes through this distribution, so its access logs would hold nothing to audit.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR4',
      "The default *.cloudfront.net certificate; a custom domain with TLS 1.2 (2021 policy) is the operator's choice.",
    );
  }
}
