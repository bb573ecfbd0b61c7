import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makePki } from "../helpers/certs.js";
import { httpCall, mosquittoPasswd, run, startTrustGateway, tempDir, writeText } from "../helpers/trust-rig.js";
import { waitFor } from "../helpers/wait.js";
import { buildGateway } from "../../gateway/app.js";
import { parseConfig } from "../../gateway/config/load.js";

/**
 * The HTTP side: Prometheus web-config basic auth (hashes made by htpasswd) and
 * HTTPS, the device push endpoint with its status codes, and what
 * /api/v1/status shows.
 */

function htpasswdHash(user: string, password: string): string {
  const line = execFileSync("htpasswd", ["-nbB", user, password], { encoding: "utf8" }).trim();
  return line.slice(line.indexOf(":") + 1);
}

test("basic_auth_users (htpasswd -nbB hashes) protect every endpoint except /-/healthy, /-/ready and the push endpoint", async (t) => {
  const dir = tempDir(t);
  const hash = htpasswdHash("ops", "s3cret");
  assert.match(hash, /^\$2y\$/);
  const { gw, httpUrl } = await startTrustGateway(t, dir, "", `  basic_auth_users:\n    ops: "${hash}"`, "");
  for (const path of ["/-/healthy", "/-/ready"]) assert.equal((await httpCall(httpUrl + path)).status, 200, path);
  for (const path of ["/metrics", "/api/v1/status", "/", "/anything-added-later"]) {
    const r = await httpCall(httpUrl + path);
    assert.equal(r.status, 401, path);
    assert.match(String(r.headers["www-authenticate"]), /^Basic realm="edgegate"/);
  }
  assert.equal((await httpCall(httpUrl + "/metrics", { auth: "ops:wrong" })).status, 401);
  assert.equal((await httpCall(httpUrl + "/metrics", { auth: "nobody:s3cret" })).status, 401);
  assert.equal((await httpCall(httpUrl + "/metrics", { auth: "ops:s3cret" })).status, 200);
  // The second request is served from the short verification cache; a wrong password still is not.
  assert.equal((await httpCall(httpUrl + "/api/v1/status", { auth: "ops:s3cret" })).status, 200);
  assert.equal((await httpCall(httpUrl + "/api/v1/status", { auth: "ops:s3cret2" })).status, 401);
  assert.equal((await httpCall(httpUrl + "/-/reload", { method: "POST", auth: "ops:wrong" })).status, 401, "POST endpoints too");
  const refusals = (await gw.metrics.httpAuthRefusals.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(refusals, 8);
});

test("tls_server_config: HTTPS with RequireAndVerifyClientCert refuses clients without a certificate from client_ca_file", async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const ops = pki.client("ops");
  const rogue = pki.rogue("ops");
  const { httpUrl } = await startTrustGateway(
    t,
    dir,
    "",
    `  tls_server_config:\n    cert_file: server.crt\n    key_file: server.key\n    client_ca_file: ca.crt\n    client_auth_type: RequireAndVerifyClientCert\n    min_version: TLS12`,
  );
  assert.match(httpUrl, /^https:/);
  const ca = readFileSync(pki.ca);
  const r = await httpCall(httpUrl + "/-/healthy", { ca, cert: readFileSync(ops.cert), key: readFileSync(ops.key) });
  assert.equal(r.status, 200);
  await assert.rejects(httpCall(httpUrl + "/-/healthy", { ca }));
  await assert.rejects(httpCall(httpUrl + "/-/healthy", { ca, cert: readFileSync(rogue.cert), key: readFileSync(rogue.key) }));
});

test("tls_server_config: RequireAnyClientCert and VerifyClientCertIfGiven", async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const ca = readFileSync(pki.ca);
  const rogue = pki.rogue("x");
  const good = pki.client("y");
  const any = await startTrustGateway(t, dir, "", `  tls_server_config: {cert_file: server.crt, key_file: server.key, client_auth_type: RequireAnyClientCert}`);
  await assert.rejects(httpCall(any.httpUrl + "/-/healthy", { ca }));
  assert.equal((await httpCall(any.httpUrl + "/-/healthy", { ca, cert: readFileSync(rogue.cert), key: readFileSync(rogue.key) })).status, 200, "any certificate will do");
  const ifGiven = await startTrustGateway(t, dir, "", `  tls_server_config: {cert_file: server.crt, key_file: server.key, client_ca_file: ca.crt, client_auth_type: VerifyClientCertIfGiven}`);
  assert.equal((await httpCall(ifGiven.httpUrl + "/-/healthy", { ca })).status, 200, "no certificate is fine");
  assert.equal((await httpCall(ifGiven.httpUrl + "/-/healthy", { ca, cert: readFileSync(good.cert), key: readFileSync(good.key) })).status, 200);
  await assert.rejects(httpCall(ifGiven.httpUrl + "/-/healthy", { ca, cert: readFileSync(rogue.cert), key: readFileSync(rogue.key) }), "an untrusted one is refused");
});

test("POST /api/v1/push/<topic>: 204, 400 with the reason, 401, 403, 413, 429; same topic rules, ACL and pipeline as MQTT", async (t) => {
  const dir = tempDir(t);
  mosquittoPasswd(join(dir, "devices.passwd"), { A: "pw-A", B: "pw-B" });
  writeText(join(dir, "devices.acl"), "pattern write vehicles/%u/#\n");
  const { gw, receiver, httpUrl } = await startTrustGateway(
    t,
    dir,
    `  max_payload_bytes: 1024\n  auth:\n    password_file: devices.passwd\n    acl_file: devices.acl`,
    `  basic_auth_users: {ops: "${htpasswdHash("ops", "x")}"}\n  push: {rate_limit: 1, burst: 3}`,
  );
  const push = (topic: string, body: string, auth?: string) => httpCall(`${httpUrl}/api/v1/push/${topic}`, { method: "POST", body, auth, headers: { "content-type": "application/json" } });
  assert.equal((await push("vehicles/A/telemetry", '{"speed": 33}', "A:pw-A")).status, 204, "the device's password-file credentials, not basic_auth_users");
  const bad = await push("vehicles/A/telemetry", "{not json", "A:pw-A");
  assert.equal(bad.status, 400);
  assert.match(bad.body, /invalid_json/);
  const noRule = await push("elsewhere/A", "{}", "A:pw-A");
  assert.equal(noRule.status, 403, "the ACL is checked before the topic rules");
  assert.equal((await push("vehicles/A/telemetry", "{}", "A:nope")).status, 401);
  assert.equal((await push("vehicles/A/telemetry", "{}")).status, 401);
  assert.equal((await push("vehicles/A/telemetry", "{}", "ops:x")).status, 401, "operators' credentials are not device credentials");
  const spoof = await push("vehicles/B/telemetry", '{"speed": 999}', "A:pw-A");
  assert.equal(spoof.status, 403);
  const big = await push("vehicles/B/telemetry", JSON.stringify({ speed: 1, pad: "x".repeat(2000) }), "B:pw-B");
  assert.equal(big.status, 413);
  // B's bucket: 3 at once, then 429 with Retry-After (the 413 took one token).
  assert.equal((await push("vehicles/B/telemetry", '{"speed": 61}', "B:pw-B")).status, 204);
  assert.equal((await push("vehicles/B/telemetry", '{"speed": 62}', "B:pw-B")).status, 204);
  const limited = await push("vehicles/B/telemetry", '{"speed": 63}', "B:pw-B");
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers["retry-after"]) >= 1);
  // Wildcards are not topic names.
  assert.equal((await push("vehicles/%2B/telemetry", "{}", "A:pw-A")).status, 400);

  gw.flushNow();
  await gw.drained();
  await waitFor("pushed samples", () => (receiver.samples().length >= 3 ? true : undefined), 10_000);
  assert.deepEqual(receiver.samples().map((s) => `${s.labels.vin}=${s.value}`).sort(), ["A=33", "B=61", "B=62"]);
  const codes = Object.fromEntries((await gw.metrics.pushRequests.get()).values.map((v) => [v.labels.code, v.value]));
  assert.equal(codes["204"], 3);
  assert.equal(codes["429"], 1);
  assert.equal(codes["413"], 1);
});

test("POST /api/v1/push goes through the same sample guard as MQTT: a far-future timestamp is refused and counted", async (t) => {
  const dir = tempDir(t);
  mosquittoPasswd(join(dir, "devices.passwd"), { A: "pw-A" });
  const { gw, receiver, httpUrl, port } = await startTrustGateway(t, dir, `  auth:\n    password_file: devices.passwd`);
  const tooFar = async () => (await gw.metrics.samplesDropped.get()).values.find((v) => v.labels.reason === "too_far_in_future")?.value ?? 0;
  const push = (body: string) => httpCall(`${httpUrl}/api/v1/push/timed/A`, { method: "POST", body, auth: "A:pw-A", headers: { "content-type": "application/json" } });
  const future = await push(JSON.stringify({ ts: Date.now() + 365 * 86_400_000, speed: 1 }));
  assert.equal(future.status, 400);
  assert.match(future.body, /too_far_in_future/);
  assert.equal(await tooFar(), 1);
  // The same payload over MQTT is counted the same way.
  const pub = await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port("tcp")), "-u", "A", "-P", "pw-A", "-q", "1", "-t", "timed/A", "-m", JSON.stringify({ ts: Date.now() + 365 * 86_400_000, speed: 2 })]);
  assert.equal(pub.code, 0, pub.stderr);
  await waitFor("the MQTT refusal", async () => ((await tooFar()) >= 2 ? true : undefined), 5000, 50);
  // A current timestamp passes.
  assert.equal((await push(JSON.stringify({ ts: Date.now(), speed: 3 }))).status, 204);
  gw.flushNow();
  await gw.drained();
  await waitFor("the pushed sample", () => (receiver.samples().length >= 1 ? true : undefined), 10_000);
  assert.deepEqual(receiver.samples().map((s) => `${s.labels.__name__}=${s.value}`), ["timed_speed=3"]);
});

test("/api/v1/status reports the listeners and redacts secrets in target URLs", async (t) => {
  const dir = tempDir(t);
  const { httpUrl, receiver } = await startTrustGateway(t, dir, `  websocket: {listen: "127.0.0.1:0"}`);
  // A second gateway whose target URL carries user:password and a token in the query string.
  const dir2 = tempDir(t);
  const withSecrets = receiver.url.replace("http://", "http://user:pa55@") + "?token=abc123&tenant=7";
  const cfg = parseConfig(
    `mqtt: {listen: "127.0.0.1:0"}\nhttp: {listen: "127.0.0.1:0"}\nstorage: {path: "${join(dir2, "x.db")}"}\ntopics: [{topic: "a/{b}"}]\nremote_write: [{url: "${withSecrets}"}]\n`,
    "t",
  );
  const gw3 = buildGateway(cfg, { shutdownSendTimeoutMs: 500 });
  await gw3.start();
  t.after(() => gw3.close());
  const status = JSON.stringify(gw3.status());
  assert.ok(!status.includes("abc123") && !status.includes("pa55"), status);
  assert.match(status, /token=<secret>&tenant=<secret>/);

  const s = JSON.parse((await httpCall(httpUrl + "/api/v1/status")).body) as { mqtt: { listeners: { transport: string; listen: string }[]; auth: { allow_anonymous: boolean } } };
  assert.deepEqual(
    s.mqtt.listeners.map((l) => l.transport),
    ["tcp", "ws"],
  );
  assert.equal(s.mqtt.auth.allow_anonymous, true, "loopback only, no authentication: Mosquitto 2's local mode");
});
