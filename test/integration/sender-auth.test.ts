import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { signRequest } from "../../gateway/remote-write/sigv4.js";
import { TARGET, metricValue, rwBatch, senderRig, until, within } from "../helpers/sender-rig.js";

interface Seen {
  headers: IncomingHttpHeaders;
  body: Buffer;
  authorized?: boolean;
}

/** A receiver that records each request's headers and body and answers 204; https when `tls` is given. */
async function recorder(t: TestContext, tls?: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert?: boolean }): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const authorized = (req.socket as { authorized?: boolean }).authorized;
      seen.push({ headers: req.headers, body: Buffer.concat(chunks), ...(authorized !== undefined ? { authorized } : {}) });
      res.writeHead(204).end();
    });
  };
  const server = tls
    ? createHttpsServer({ key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.requestCert ?? false, rejectUnauthorized: tls.requestCert ?? false }, handler)
    : createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  }));
  const { port } = server.address() as AddressInfo;
  return { url: `${tls ? "https" : "http"}://127.0.0.1:${port}/api/v1/write`, seen };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-auth-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("basic_auth.password_file and bearer_token_file are read at every request (rotation without restart)", async (t) => {
  const dir = tempDir(t);
  for (const kind of ["basic", "bearer"] as const) {
    const rx = await recorder(t);
    const file = join(dir, `${kind}.secret`);
    writeFileSync(file, "first\n");
    const auth = kind === "basic" ? { basic_auth: { username: "edge", password_file: file } } : { bearer_token_file: file };
    const { outbox, sender } = senderRig(t, rx.url, { ...auth, headers: { Authorization: "Bearer forged", Host: "evil.example", "X-Scope-OrgID": "t1" } });
    sender.start();
    outbox.append(TARGET, [rwBatch("a", [1000])]);
    await within(3000, sender.drained(), "first");
    writeFileSync(file, "second");
    outbox.append(TARGET, [rwBatch("a", [2000])]);
    await within(3000, sender.drained(), "second");
    const expect = (s: string) => (kind === "basic" ? "Basic " + Buffer.from(`edge:${s}`).toString("base64") : `Bearer ${s}`);
    assert.deepEqual(rx.seen.map((r) => r.headers.authorization), [expect("first"), expect("second")], kind);
    for (const r of rx.seen) {
      assert.equal(r.headers.host, new URL(rx.url).host, "a configured Host header is not sent");
      assert.equal(r.headers["x-scope-orgid"], "t1");
    }
  }
});

test("a missing secret file is retried (auth_error), not dead-lettered", async (t) => {
  const rx = await recorder(t);
  const file = join(tempDir(t), "token");
  const { outbox, metrics, sender } = senderRig(t, rx.url, { bearer_token_file: file });
  outbox.append(TARGET, [rwBatch("a", [1000])]);
  sender.start();
  await until(async () => (await metricValue(metrics.rwRetries, { target: TARGET, reason: "auth_error" })) >= 2, 3000, "auth retries");
  assert.match(sender.status().lastError?.message ?? "", /bearer_token_file: cannot read/);
  writeFileSync(file, "tok");
  await within(3000, sender.drained(), "drained once the file exists");
  assert.equal(rx.seen[0]?.headers.authorization, "Bearer tok");
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
});

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makePki(dir: string): Record<"caCrt" | "serverKey" | "serverCrt" | "clientKey" | "clientCrt", string> {
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ossl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=edgegate test CA");
  writeFileSync(f("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  for (const who of ["server", "client"]) {
    ossl("req", ...ec, "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", `/CN=${who}`);
    ossl("x509", "-req", "-in", `${who}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${who}.crt`, "-days", "2", ...(who === "server" ? ["-extfile", "san.ext"] : []));
  }
  return { caCrt: f("ca.crt"), serverKey: f("server.key"), serverCrt: f("server.crt"), clientKey: f("client.key"), clientCrt: f("client.crt") };
}

test("tls_config: ca_file verifies the receiver, cert_file/key_file authenticate us (mTLS); an unknown CA is refused; insecure_skip_verify skips it", async (t) => {
  const pki = makePki(tempDir(t));
  const rx = await recorder(t, { key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCrt), ca: readFileSync(pki.caCrt), requestCert: true });

  const good = senderRig(t, rx.url, { tls_config: { ca_file: pki.caCrt, cert_file: pki.clientCrt, key_file: pki.clientKey } });
  good.outbox.append(TARGET, [rwBatch("a", [1000])]);
  good.sender.start();
  await within(5000, good.sender.drained(), "mTLS delivery");
  assert.equal(rx.seen.length, 1);
  assert.equal(rx.seen[0]!.authorized, true, "the client certificate was verified");

  // No CA: the system store does not know our test CA.
  const untrusted = senderRig(t, rx.url, { tls_config: { cert_file: pki.clientCrt, key_file: pki.clientKey } });
  untrusted.outbox.append(TARGET, [rwBatch("b", [1000])]);
  untrusted.sender.start();
  await until(async () => (await metricValue(untrusted.metrics.rwRetries, { target: TARGET, reason: "network_error" })) >= 1, 3000, "a TLS failure");
  assert.match(untrusted.sender.status().lastError?.message ?? "", /certificate/i);

  const plain = await recorder(t, { key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCrt) });
  const insecure = senderRig(t, plain.url, { tls_config: { insecure_skip_verify: true } });
  insecure.outbox.append(TARGET, [rwBatch("c", [1000])]);
  insecure.sender.start();
  await within(5000, insecure.sender.drained(), "insecure delivery");
  assert.equal(plain.seen.length, 1);
  assert.equal(rx.seen.length, 1, "the untrusted sender never got a request through");
});

test("sigv4: each request is signed (service aps) over its exact body with the environment's credentials", async (t) => {
  const rx = await recorder(t);
  const env = { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", AWS_SESSION_TOKEN: "session-1" };
  const { outbox, sender } = senderRig(t, rx.url, { sigv4: { region: "eu-central-1" }, headers: { "X-Amz-Date": "19700101T000000Z" } }, { env });
  outbox.append(TARGET, [rwBatch("a", [1000, 2000])]);
  sender.start();
  await within(3000, sender.drained(), "drained");
  const r = rx.seen[0]!;
  const auth = String(r.headers.authorization);
  assert.match(auth, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-central-1\/aps\/aws4_request, SignedHeaders=content-encoding;content-type;host;x-amz-date;x-amz-security-token;x-prometheus-remote-write-version, Signature=[0-9a-f]{64}$/);
  assert.equal(r.headers["x-amz-security-token"], "session-1");
  assert.notEqual(r.headers["x-amz-date"], "19700101T000000Z", "a configured x-amz-date is not sent");
  // Re-sign what arrived, at the time it claims: the same signature means body and headers were signed as sent.
  const d = String(r.headers["x-amz-date"]);
  const date = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
  const pick = (n: string) => String(r.headers[n]);
  const again = await signRequest(
    {
      method: "POST",
      url: new URL(rx.url),
      headers: { "content-encoding": pick("content-encoding"), "content-type": pick("content-type"), "x-prometheus-remote-write-version": pick("x-prometheus-remote-write-version"), "user-agent": pick("user-agent") },
      body: new Uint8Array(r.body),
    },
    { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: "session-1" }, region: "eu-central-1", service: "aps", signingDate: date },
  );
  assert.equal(again.authorization, auth);
});
