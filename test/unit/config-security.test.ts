import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { parseConfig } from "../../gateway/config/load.js";
import { allowAnonymous, isLoopbackListen } from "../../gateway/config/schema-security.js";
import { BasicAuthVerifier } from "../../gateway/http/web-config.js";
import { redactUrl } from "../../gateway/http/redact.js";
import { configProblems } from "../helpers/config-problems.js";

const MIN = `topics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9090/api/v1/write"}]\n`;

test("loopback addresses", () => {
  for (const a of ["127.0.0.1:1883", "127.1.2.3:0", "[::1]:1883", "localhost:1883", ""]) assert.ok(isLoopbackListen(a), a);
  for (const a of ["0.0.0.0:1883", ":1883", "[::]:1883", "10.0.0.5:1883", "example.org:1883"]) assert.ok(!isLoopbackListen(a), a);
});

test("allow_anonymous: explicit value wins; unset is true only on a loopback broker without authentication", () => {
  const c = (mqtt: string) => parseConfig(MIN + `mqtt: ${mqtt}\n`, "t").mqtt;
  assert.equal(allowAnonymous(c(`{listen: "127.0.0.1:1883"}`)), true);
  assert.equal(allowAnonymous(c(`{listen: "127.0.0.1:1883", auth: {allow_anonymous: false}}`)), false);
  assert.equal(allowAnonymous(c(`{listen: "127.0.0.1:1883", auth: {password_file: p}}`)), false);
  assert.equal(allowAnonymous(c(`{listen: "0.0.0.0:1883", auth: {password_file: p}}`)), false);
  assert.equal(allowAnonymous(c(`{listen: "0.0.0.0:1883", auth: {allow_anonymous: true}}`)), true);
});

test("exposed listeners without an authentication method are config errors naming the keys", () => {
  const p = configProblems(MIN + `mqtt: {listen: "0.0.0.0:1883", auth: {allow_anonymous: false}}\n`);
  assert.equal(p.length, 1, p.join("\n"));
  assert.match(p[0]!, /^mqtt\.auth: mqtt\.listen "0\.0\.0\.0:1883" can be reached from other hosts/);
  assert.match(p[0]!, /mqtt\.auth\.password_file/);
  const tls = configProblems(MIN + `mqtt: {listen: "127.0.0.1:1883", tls: {listen: "0.0.0.0:8883", cert_file: c, key_file: k, require_certificate: true}}\n`);
  assert.ok(tls.some((l) => l.startsWith("mqtt.tls.client_ca_file: required when require_certificate")), tls.join("\n"));
  assert.ok(tls.some((l) => l.includes('mqtt.tls.listen "0.0.0.0:8883"')), tls.join("\n"));
  // client certificates as the identity are an authentication method
  parseConfig(MIN + `mqtt: {listen: "", tls: {listen: "0.0.0.0:8883", cert_file: c, key_file: k, client_ca_file: ca, use_identity_as_username: true}}\n`, "t");
  const ws = configProblems(MIN + `mqtt: {websocket: {listen: "127.0.0.1:0", tls: true}}\n`);
  assert.ok(ws.some((l) => l.startsWith("mqtt.websocket.tls:")), ws.join("\n"));
  const web = configProblems(MIN + `http: {tls_server_config: {cert_file: c, key_file: k, client_auth_type: RequireAndVerifyClientCert}}\n`);
  assert.deepEqual(web.map((l) => l.split(":")[0]), ["http.tls_server_config.client_ca_file"]);
  const hash = configProblems(MIN + `http: {basic_auth_users: {ops: plaintext}}\n`);
  assert.match(hash[0]!, /^http\.basic_auth_users\.ops: must be a bcrypt hash/);
  assert.match(configProblems(MIN + `mqtt: {listen: "nope"}\n`)[0]!, /mqtt\.listen: must be host:port.*"" to disable/);
});

test("basic_auth_users: an htpasswd -nbB hash verifies with bcryptjs; only successes are cached", async () => {
  const line = execFileSync("htpasswd", ["-nbB", "ops", "pa ss"], { encoding: "utf8" }).trim();
  const v = new BasicAuthVerifier({ ops: line.slice(4) });
  assert.equal(await v.verify("ops", "pa ss"), true);
  assert.equal(await v.verify("ops", "pa ss "), false);
  assert.equal(await v.verify("nobody", "pa ss"), false);
  const t0 = performance.now();
  assert.equal(await v.verify("ops", "pa ss"), true);
  const cached = performance.now() - t0;
  const t1 = performance.now();
  assert.equal(await v.verify("ops", "wrong"), false);
  const uncached = performance.now() - t1;
  assert.ok(cached < uncached, `cached ${cached} ms should be faster than a bcrypt check ${uncached} ms`);
});

test("status URLs: user:password removed, query values replaced", () => {
  assert.equal(redactUrl("https://u:p@example.org/api/v1/write?token=abc&x=1"), "https://example.org/api/v1/write?token=<secret>&x=<secret>");
  assert.equal(redactUrl("http://h:9090/api/v1/write"), "http://h:9090/api/v1/write");
});
