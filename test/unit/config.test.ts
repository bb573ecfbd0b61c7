import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultConfig, parseConfig } from "../../gateway/config/load.js";
import { formatDuration, parseDuration } from "../../gateway/prom/duration.js";
import { configProblems } from "../helpers/config-problems.js";

const problems = configProblems;

const MIN = `topics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9090/api/v1/write"}]\n`;

test("the built-in defaults are valid and documented values", () => {
  const c = defaultConfig();
  assert.equal(c.mqtt.listen, "0.0.0.0:1883");
  assert.equal(c.http.listen, "0.0.0.0:9480");
  assert.equal(c.storage.path, "./data/edgegate.db");
  assert.equal(c.remote_write[0]?.url, "http://127.0.0.1:9090/api/v1/write");
  assert.equal(c.topics[0]?.topic, "vehicles/{vin}/telemetry");
});

test("a minimal config gets every default", () => {
  const c = parseConfig(MIN, "t");
  assert.equal(c.forward_unmatched, true);
  assert.deepEqual(c.aggregation, []);
  assert.equal(c.remote_write[0]?.queue_config.max_samples_per_send, 2000);
  assert.equal(c.remote_write[0]?.queue_config.min_backoff, 30); // durations come out of the schema in milliseconds
});

test("errors name the key path and the bad value", () => {
  const p = problems(MIN + `mqtt: {listen: "nope"}\naggregation: [{match: '{a="b"}', interval: 10x, outputs: [avg, median]}]\n`);
  assert.ok(p.some((l) => l.startsWith("mqtt.listen:") && l.includes('"nope"')), p.join("\n"));
  assert.ok(p.some((l) => l.startsWith("aggregation[0].interval:") && l.includes('"10x"')), p.join("\n"));
  assert.ok(p.some((l) => l.startsWith("aggregation[0].outputs[1]:") && l.includes('"median"')), p.join("\n"));
});

test("unknown keys are errors, not silently ignored", () => {
  const p = problems(MIN + `storage: {pth: x}\n`);
  assert.deepEqual(p, ["storage.pth: unknown key"]);
});

test("missing required sections are named", () => {
  const p = problems(`mqtt: {listen: "0.0.0.0:1883"}\n`);
  assert.ok(p.some((l) => l.startsWith("topics:")));
  assert.ok(p.some((l) => l.startsWith("remote_write:")));
});

test("by and without together are refused", () => {
  const p = problems(MIN + `aggregation: [{match: x, interval: 10s, by: [a], without: [b], outputs: [avg]}]\n`);
  assert.ok(p.some((l) => l.startsWith("aggregation[0].without:")), p.join("\n"));
});

test("YAML syntax errors are reported, not thrown raw", () => {
  const p = problems("topics: [\n");
  assert.ok(p[0]?.startsWith("YAML syntax:"));
});

test("Prometheus durations", () => {
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("10"), /not a valid duration/);
  assert.throws(() => parseDuration("1m1h"), /not a valid duration/);
  assert.throws(() => parseDuration(""), /not a valid duration/);
  assert.equal(formatDuration(5_400_000), "1h30m");
});

test("files a config refers to are relative to the config file's folder; storage.path to the working directory", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { loadConfigFile } = await import("../../gateway/config/load.js");
  const dir = mkdtempSync(join(tmpdir(), "edgegate-cfg-"));
  try {
    writeFileSync(
      join(dir, "e.yaml"),
      MIN.replace('remote_write: [{url: "http://127.0.0.1:9090/api/v1/write"}]', 'remote_write: [{url: "https://r.example/api/v1/write", tls_config: {ca_file: ca.pem}, bearer_token_file: /etc/token}]') +
        `enrich: [{name: reg, key_label: id, file: reg/vehicles.csv}]\nstorage: {path: ./data/x.db}\n`,
    );
    const c = loadConfigFile(join(dir, "e.yaml"));
    assert.equal(c.enrich[0]?.file, join(dir, "reg", "vehicles.csv"));
    assert.equal(c.remote_write[0]?.tls_config?.ca_file, join(dir, "ca.pem"));
    assert.equal(c.remote_write[0]?.bearer_token_file, "/etc/token");
    assert.equal(c.storage.path, "./data/x.db");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every key marked as a file path in the schema is resolved against the config's folder (no hand-kept list)", async () => {
  const { resolveConfigPaths, parseConfig } = await import("../../gateway/config/load.js");
  const c = parseConfig(
    `topics: [{topic: "a/{id}"}]
enrich: [{name: reg, key_label: id, file: f.csv, sqlite: {path: r.db, table: t}}]
remote_write:
  - {url: "https://r/w", tls_config: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem}, basic_auth: {username: u, password_file: pw}}
  - {url: "https://r/w2", bearer_token_file: tok}
`,
    "t",
  );
  const r = resolveConfigPaths(c, "/cfg");
  assert.deepEqual(
    [r.enrich[0]?.file, r.enrich[0]?.sqlite?.path, r.remote_write[0]?.tls_config?.ca_file, r.remote_write[0]?.tls_config?.cert_file, r.remote_write[0]?.tls_config?.key_file, r.remote_write[0]?.basic_auth?.password_file, r.remote_write[1]?.bearer_token_file],
    ["/cfg/f.csv", "/cfg/r.db", "/cfg/ca.pem", "/cfg/c.pem", "/cfg/k.pem", "/cfg/pw", "/cfg/tok"],
  );
  assert.equal(r.remote_write[0]?.url, "https://r/w", "other strings are left alone");
  assert.equal(r.storage.path, "./data/edgegate.db", "storage.path stays relative to the working directory");
});
