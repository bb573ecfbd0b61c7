import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../gateway/config/load.js";
import { parseByteSize } from "../../gateway/config/schema-storage.js";
import { parseDuration } from "../../gateway/prom/duration.js";
import { configProblems } from "../helpers/config-problems.js";

const problems = configProblems;

const TOPICS = `topics: [{topic: "a/{id}"}]\n`;
const rw = (extra: string, url = "https://aps.example/api/v1/write") => `${TOPICS}remote_write:\n  - url: "${url}"\n${extra}`;

test("storage bounds and delivery settings: defaults", () => {
  const c = parseConfig(rw(""), "t");
  // Parsed once, by the schema: sizes in bytes, durations in milliseconds.
  assert.equal(c.storage.max_bytes, parseByteSize("1GiB"));
  assert.equal(c.storage.max_age, parseDuration("7d"));
  assert.equal(c.remote_write[0]!.queue_config.max_retry_duration, parseDuration("10m"));
  assert.equal(c.remote_write[0]!.queue_config.replay_speed, 20);
});

test("byte sizes: units as Prometheus writes them, numbers as bytes, nonsense refused", () => {
  assert.equal(parseByteSize("512MiB"), 512 * 1024 * 1024);
  assert.equal(parseByteSize("2GB"), 2e9);
  assert.equal(parseByteSize(1048576), 1048576);
  assert.equal(parseByteSize("0"), 0);
  assert.equal(parseByteSize("12 parsecs"), undefined);
  assert.deepEqual(problems(`${TOPICS}storage: {max_bytes: "lots"}\nremote_write: [{url: "http://a/w"}]\n`), [
    'storage.max_bytes: not a valid size (use e.g. 512MiB, 2GB or a number of bytes; 0 = no bound) (got "lots")',
  ]);
});

test("one authentication method per target; secrets and certificates come in pairs; tls_config needs https", () => {
  assert.deepEqual(problems(rw("    bearer_token: a\n    sigv4: {region: eu-west-1}\n")), [
    "remote_write[0].sigv4: only one of basic_auth, bearer_token, bearer_token_file, sigv4 may be set (also set: bearer_token) (got {\"region\":\"eu-west-1\"})",
  ]);
  assert.match(problems(rw("    basic_auth: {username: u, password: p, password_file: /f}\n")).join("\n"), /remote_write\[0\]\.basic_auth\.password_file: password and password_file are mutually exclusive/);
  assert.match(problems(rw("    tls_config: {cert_file: /c}\n")).join("\n"), /remote_write\[0\]\.tls_config\.key_file: cert_file and key_file go together/);
  assert.match(problems(rw("    sigv4: {access_key: AKID}\n")).join("\n"), /remote_write\[0\]\.sigv4\.secret_key: access_key and secret_key go together/);
  assert.match(problems(rw("    tls_config: {insecure_skip_verify: true}\n", "http://a/w")).join("\n"), /remote_write\[0\]\.tls_config: tls_config needs an https:\/\/ url/);
  const ok = parseConfig(rw("    sigv4: {region: eu-west-1, role_arn: \"arn:aws:iam::123456789012:role/edge\"}\n    tls_config: {ca_file: /ca.pem}\n"), "t");
  assert.equal(ok.remote_write[0]!.sigv4?.role_arn, "arn:aws:iam::123456789012:role/edge");
  assert.equal(ok.remote_write[0]!.tls_config?.insecure_skip_verify, false);
});
