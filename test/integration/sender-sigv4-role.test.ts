import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { STS_TIMEOUT_MS, signRequest } from "../../gateway/remote-write/sigv4.js";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { TARGET, metricValue, rwBatch, senderRig, until, within } from "../helpers/sender-rig.js";

/**
 * sigv4.role_arn end to end, without network: a fake STS on loopback answers
 * AssumeRole, the AWS SDK is pointed at it with AWS_ENDPOINT_URL_STS (honoured
 * by @aws-sdk/client-sts's endpoint resolution; no config key needed), and the
 * real Sender then signs Remote-Write requests with the assumed credentials.
 */

const REGION = "eu-central-1";
const ROLE_ARN = "arn:aws:iam::123456789012:role/edgegate-writer";
const BASE = { accessKeyId: "AKIDBASEEXAMPLE", secretAccessKey: "base/secret/KEY+EXAMPLE0123456789abcdefgh" };

interface StsCall {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  form: URLSearchParams;
}
interface Issued {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** A fake STS: answers every AssumeRole with fresh credentials valid for `validForMs`, and records the requests. */
async function fakeSts(t: TestContext, validForMs: number): Promise<{ url: string; calls: StsCall[]; issued: Issued[] }> {
  const calls: StsCall[] = [];
  const issued: Issued[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const form = new URLSearchParams(body);
      calls.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, form });
      if (form.get("Action") !== "AssumeRole") {
        res.writeHead(400, { "content-type": "text/xml" }).end(
          `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>not AssumeRole</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
        );
        return;
      }
      const n = issued.length + 1;
      const cred: Issued = {
        accessKeyId: `ASIAASSUMED${n}`,
        secretAccessKey: `assumed/secret/${n}/EXAMPLEKEY0123456789`,
        sessionToken: `assumed-session-token-${n}`,
        expiration: new Date(Math.floor((Date.now() + validForMs) / 1000) * 1000),
      };
      issued.push(cred);
      const xml =
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
        `<AssumeRoleResult>` +
        `<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:${form.get("RoleSessionName") ?? ""}</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/edgegate-writer/${form.get("RoleSessionName") ?? ""}</Arn></AssumedRoleUser>` +
        `<Credentials>` +
        `<AccessKeyId>${cred.accessKeyId}</AccessKeyId>` +
        `<SecretAccessKey>${cred.secretAccessKey}</SecretAccessKey>` +
        `<SessionToken>${cred.sessionToken}</SessionToken>` +
        `<Expiration>${cred.expiration.toISOString().replace(/\.\d{3}Z$/, "Z")}</Expiration>` +
        `</Credentials>` +
        `</AssumeRoleResult>` +
        `<ResponseMetadata><RequestId>00000000-0000-0000-0000-00000000000${n}</RequestId></ResponseMetadata>` +
        `</AssumeRoleResponse>`;
      res.writeHead(200, { "content-type": "text/xml", "x-amzn-requestid": `req-${n}` }).end(xml);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  }));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, issued };
}

/** Points the AWS SDK's STS endpoint at `url` (process env, restored after the test) and hides any local AWS config. */
function useStsEndpoint(t: TestContext, url: string): void {
  const none = join(tmpdir(), `edgegate-no-aws-config-${process.pid}`);
  const set: Record<string, string | undefined> = {
    AWS_ENDPOINT_URL_STS: url,
    AWS_ENDPOINT_URL: undefined,
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined,
    AWS_CONFIG_FILE: none,
    AWS_SHARED_CREDENTIALS_FILE: none,
    AWS_PROFILE: undefined,
  };
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(set)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

/** The Date an x-amz-date header (YYYYMMDDTHHMMSSZ) names. */
function amzDate(d: string): Date {
  return new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
}

/** Asserts that the STS request is an AssumeRole for ROLE_ARN, SigV4-signed (service sts) with the BASE credentials. */
async function assertSignedAssumeRole(call: StsCall, stsUrl: string): Promise<void> {
  assert.equal(call.method, "POST");
  assert.equal(call.form.get("Action"), "AssumeRole");
  assert.equal(call.form.get("RoleArn"), ROLE_ARN);
  assert.equal(call.form.get("RoleSessionName"), "edgegate");
  assert.ok(call.form.get("Version"), "the Query API version is sent");
  const auth = String(call.headers.authorization);
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/.exec(auth);
  assert.ok(m, `STS request is SigV4-signed: ${auth}`);
  assert.equal(m[1], BASE.accessKeyId, "signed with the base access key");
  assert.equal(m[3], REGION);
  assert.equal(m[4], "sts");
  assert.equal(call.headers["x-amz-security-token"], undefined, "the base credentials have no session token");
  // Re-sign what arrived with the base secret, at the time it claims: the same
  // signature proves the base secret key signed this exact body and these headers.
  const signed = m[5]!.split(";");
  assert.ok(signed.includes("host") && signed.includes("x-amz-date"), `signed headers: ${m[5]}`);
  const headers: Record<string, string> = {};
  for (const h of signed) if (h !== "host" && h !== "x-amz-date") headers[h] = String(call.headers[h]);
  const again = await signRequest(
    { method: "POST", url: new URL(call.url, stsUrl), headers, body: call.body },
    { credentials: BASE, region: REGION, service: "sts", signingDate: amzDate(String(call.headers["x-amz-date"])) },
  );
  assert.equal(again.authorization, auth, "signature verifies with the base secret key");
}

test("sigv4.role_arn: the role is assumed through STS (signed with the base credentials), Remote-Write is signed with the assumed credentials, which are cached", async (t) => {
  const sts = await fakeSts(t, 60 * 60_000);
  useStsEndpoint(t, sts.url);
  const rx = await startFakeReceiver();
  t.after(() => rx.close());
  const { outbox, sender } = senderRig(t, rx.url, {
    sigv4: { region: REGION, access_key: BASE.accessKeyId, secret_key: BASE.secretAccessKey, role_arn: ROLE_ARN },
  });
  sender.start();

  outbox.append(TARGET, [rwBatch("a", [1000, 2000])]);
  await within(5000, sender.drained(), "first batch");
  assert.equal(sts.calls.length, 1, "one AssumeRole call");
  await assertSignedAssumeRole(sts.calls[0]!, sts.url);

  assert.equal(rx.requests.length, 1);
  const first = rx.requests[0]!;
  assert.equal(first.status, 204);
  assert.match(
    String(first.headers.authorization),
    new RegExp(`^AWS4-HMAC-SHA256 Credential=${sts.issued[0]!.accessKeyId}/\\d{8}/${REGION}/aps/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-security-token[a-z0-9;-]*, Signature=[0-9a-f]{64}$`),
  );
  assert.equal(first.headers["x-amz-security-token"], sts.issued[0]!.sessionToken);

  // A second batch while the assumed credentials are valid: no new STS call, same credentials.
  outbox.append(TARGET, [rwBatch("b", [3000])]);
  await within(5000, sender.drained(), "second batch");
  assert.equal(rx.requests.length, 2);
  assert.equal(sts.calls.length, 1, "assumed credentials are cached: no second AssumeRole");
  const second = rx.requests[1]!;
  assert.match(String(second.headers.authorization), new RegExp(`^AWS4-HMAC-SHA256 Credential=${sts.issued[0]!.accessKeyId}/`));
  assert.equal(second.headers["x-amz-security-token"], sts.issued[0]!.sessionToken);
  assert.deepEqual(rx.samples().map((s) => s.timestamp), [1000, 2000, 3000]);
});

test("sigv4.role_arn: credentials expiring within the refresh margin (5 min) are assumed again", async (t) => {
  const sts = await fakeSts(t, 2 * 60_000);
  useStsEndpoint(t, sts.url);
  const rx = await startFakeReceiver();
  t.after(() => rx.close());
  const { outbox, sender } = senderRig(t, rx.url, {
    sigv4: { region: REGION, access_key: BASE.accessKeyId, secret_key: BASE.secretAccessKey, role_arn: ROLE_ARN },
  });
  sender.start();
  outbox.append(TARGET, [rwBatch("a", [1000])]);
  await within(5000, sender.drained(), "first batch");
  outbox.append(TARGET, [rwBatch("b", [2000])]);
  await within(5000, sender.drained(), "second batch");
  assert.equal(sts.calls.length, 2, "re-assumed because the first credentials expire within 5 minutes");
  for (const c of sts.calls) await assertSignedAssumeRole(c, sts.url);
  assert.deepEqual(
    rx.requests.map((r) => [String(r.headers.authorization).split("/")[0], r.headers["x-amz-security-token"]]),
    sts.issued.map((c) => [`AWS4-HMAC-SHA256 Credential=${c.accessKeyId}`, c.sessionToken]),
  );
});

test("sigv4.role_arn: an STS that never answers is given up after STS_TIMEOUT_MS and retried (auth_error), not waited on forever", async (t) => {
  let accepted = 0;
  const silent = createServer(() => void accepted++); // reads the request, never answers
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  // Registered before the rig, so it runs first at the end: the pending STS call then fails fast.
  t.after(() => new Promise<void>((r) => {
    silent.close(() => r());
    silent.closeAllConnections();
  }));
  useStsEndpoint(t, `http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
  const rx = await startFakeReceiver();
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url, {
    sigv4: { region: REGION, access_key: BASE.accessKeyId, secret_key: BASE.secretAccessKey, role_arn: ROLE_ARN },
  });
  outbox.append(TARGET, [rwBatch("a", [1000])]);
  sender.start();
  await until(async () => (await metricValue(metrics.rwRetries, { target: TARGET, reason: "auth_error" })) >= 1, STS_TIMEOUT_MS + 5000, "an auth_error retry");
  assert.ok(accepted >= 1, "the SDK did reach the (silent) fake STS");
  assert.match(sender.status().lastError?.message ?? "", /sigv4\.role_arn arn:aws:iam::123456789012:role\/edgegate-writer: STS AssumeRole failed/);
  assert.equal(rx.requests.length, 0, "nothing is sent unsigned");
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0, "the batch stays queued");
});

test("sigv4.role_arn: the shards of one target share one signer, so concurrent first requests make one STS call", async (t) => {
  const sts = await fakeSts(t, 3600_000);
  useStsEndpoint(t, sts.url);
  const { buildRequest } = await import("../../gateway/remote-write/headers.js");
  const { remoteWriteSchema } = await import("../../gateway/config/schema-remote-write.js");
  const rw = remoteWriteSchema.parse({ url: "https://aps.example/api/v1/write", sigv4: { region: REGION, access_key: BASE.accessKeyId, secret_key: BASE.secretAccessKey, role_arn: ROLE_ARN } });
  // four shards build their request from the same target config object, as TargetSender does
  const shards = [0, 1, 2, 3].map(() => buildRequest(rw, "edgegate/test"));
  const signed = await Promise.all(shards.map((s) => s.authorize(new Uint8Array([1, 2, 3]))));
  assert.equal(sts.calls.length, 1, "one AssumeRole for the whole target");
  for (const h of signed) assert.match(h.authorization ?? "", new RegExp(`Credential=${sts.issued[0]!.accessKeyId}/`));
});
