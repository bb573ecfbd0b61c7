import type { RemoteWriteConfig } from "../config/schema.js";

/**
 * The AWS SDK is loaded on the first signature, not at start-up: it costs
 * ~20 MB of resident memory that a gateway without a `sigv4` target (most of
 * them, on a Pi) should not pay. STS is loaded only for `role_arn`.
 */
let signerLibs: Promise<[typeof import("@smithy/hash-node"), typeof import("@smithy/protocol-http"), typeof import("@smithy/signature-v4")]> | undefined;
function loadSignerLibs() {
  signerLibs ??= Promise.all([import("@smithy/hash-node"), import("@smithy/protocol-http"), import("@smithy/signature-v4")]);
  return signerLibs;
}

/**
 * AWS Signature Version 4 for Amazon Managed Service for Prometheus (service
 * "aps"), with AWS's own maintained signer (@smithy/signature-v4), not a
 * hand-written one. Tested against the aws-sig-v4-test-suite vectors
 * (test/unit/remote-write-sigv4.test.ts).
 */

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export interface SignInput {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}

/** Signs one request; returns all headers to send (the input's, plus host, x-amz-date, authorization, x-amz-security-token). */
export async function signRequest(
  req: SignInput,
  opts: { credentials: AwsCredentials; region: string; service: string; signingDate?: Date },
): Promise<Record<string, string>> {
  const [{ Hash }, { HttpRequest }, { SignatureV4 }] = await loadSignerLibs();
  const signer = new SignatureV4({
    credentials: opts.credentials,
    region: opts.region,
    service: opts.service,
    sha256: Hash.bind(null, "sha256"),
    // No x-amz-content-sha256 header: AMP does not need it, and Prometheus's own
    // sigv4 round-tripper (aws-sdk-go's v4 signer) does not send it either.
    applyChecksum: false,
  });
  const query: Record<string, string> = {};
  for (const [k, v] of req.url.searchParams) query[k] = v;
  const request = new HttpRequest({
    method: req.method,
    protocol: req.url.protocol,
    hostname: req.url.hostname,
    ...(req.url.port !== "" ? { port: Number(req.url.port) } : {}),
    path: req.url.pathname,
    query,
    headers: { ...req.headers, host: req.url.host },
    ...(req.body !== undefined ? { body: req.body } : {}),
  });
  const signed = await signer.sign(request, opts.signingDate !== undefined ? { signingDate: opts.signingDate } : {});
  return { ...(signed.headers as Record<string, string>) };
}

/** Refresh assumed-role credentials this long before they expire. */
const REFRESH_BEFORE_MS = 5 * 60_000;
/**
 * Longest an AssumeRole call (SDK retries included) may take: signing runs
 * before the request's remote_timeout starts, so an STS that never answers
 * would otherwise stall the sender (and its shutdown) for good.
 */
export const STS_TIMEOUT_MS = 10_000;

/**
 * Credentials for one target: `access_key`/`secret_key` from the config, else
 * the standard environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN); with `role_arn`, those (or the AWS SDK's default chain)
 * assume the role through STS, and the result is cached until shortly before
 * it expires.
 */
export class SigV4Signer {
  readonly region: string;
  private readonly base: AwsCredentials | undefined;
  private readonly roleArn: string | undefined;
  private assumed: AwsCredentials | undefined;
  /** The AssumeRole call in flight, shared by concurrent signers (one STS call, not one per shard). */
  private assuming: Promise<AwsCredentials> | undefined;

  constructor(cfg: NonNullable<RemoteWriteConfig["sigv4"]>, env: NodeJS.ProcessEnv = process.env) {
    const region = cfg.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (region === undefined || region === "") throw new Error("sigv4.region is not set (nor AWS_REGION / AWS_DEFAULT_REGION)");
    this.region = region;
    if (cfg.access_key !== undefined && cfg.secret_key !== undefined) {
      this.base = { accessKeyId: cfg.access_key, secretAccessKey: cfg.secret_key };
    } else if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      this.base = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
      if (env.AWS_SESSION_TOKEN) this.base.sessionToken = env.AWS_SESSION_TOKEN;
    }
    this.roleArn = cfg.role_arn;
    if (this.base === undefined && this.roleArn === undefined) {
      throw new Error("sigv4: no credentials: set sigv4.access_key and sigv4.secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or sigv4.role_arn");
    }
  }

  async sign(url: URL, headers: Record<string, string>, body: Uint8Array): Promise<Record<string, string>> {
    return signRequest({ method: "POST", url, headers, body }, { credentials: await this.credentials(), region: this.region, service: "aps" });
  }

  private async credentials(): Promise<AwsCredentials> {
    if (this.roleArn === undefined) return this.base!;
    const a = this.assumed;
    if (a !== undefined && (a.expiration === undefined || a.expiration.getTime() - Date.now() > REFRESH_BEFORE_MS)) return a;
    this.assuming ??= this.assumeRole().finally(() => (this.assuming = undefined));
    return this.assuming;
  }

  private async assumeRole(): Promise<AwsCredentials> {
    const { AssumeRoleCommand, STSClient } = await import("@aws-sdk/client-sts");
    const sts = new STSClient({ region: this.region, ...(this.base !== undefined ? { credentials: this.base } : {}) });
    try {
      let out;
      try {
        out = await sts.send(new AssumeRoleCommand({ RoleArn: this.roleArn, RoleSessionName: "edgegate" }), { abortSignal: AbortSignal.timeout(STS_TIMEOUT_MS) });
      } catch (err) {
        throw new Error(`sigv4.role_arn ${this.roleArn}: STS AssumeRole failed: ${(err as Error).message}`);
      }
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`sigv4.role_arn ${this.roleArn}: STS returned no credentials`);
      this.assumed = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}), ...(c.Expiration ? { expiration: c.Expiration } : {}) };
      return this.assumed;
    } finally {
      sts.destroy();
    }
  }
}
