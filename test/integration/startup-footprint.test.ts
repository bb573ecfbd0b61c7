import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/gateway-process.js";
import { DEFAULT_CONFIG_YAML } from "../../gateway/config/defaults.js";

/**
 * What the production process (`node dist/gateway/main.js`) loads: a config
 * that does not use a feature must not pay for it in memory. The trace
 * (test/fixtures/module-trace.mjs) lists the ES modules, the CommonJS modules
 * and the files read by the gateway's main thread.
 */
const MAIN = join(REPO, "dist", "gateway", "main.js");
const TRACE = join(REPO, "test", "fixtures", "module-trace.mjs");

interface Trace {
  esm: string[];
  cjs: string[];
  read: string[];
}

async function traceGateway(dir: string, configYaml: string): Promise<Trace> {
  const cfg = join(dir, "edgegate.yaml");
  const out = join(dir, "trace.json");
  writeFileSync(cfg, configYaml);
  const child = spawn(process.execPath, ["--import", TRACE, MAIN, "--config", cfg, "--log.format=json"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "", EDGEGATE_TRACE_OUT: out },
  });
  let log = "";
  child.stdout.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    for (let i = 0; i < 300 && !log.includes('"edgegate started"'); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(log.includes('"edgegate started"'), `gateway did not start:\n${log}`);
    // Idle a moment: what loads lazily on a timer (metrics collection, the first uplink attempt) loads now.
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, log);
  return JSON.parse(readFileSync(out, "utf8")) as Trace;
}

const local = (yaml: string, dir: string) =>
  yaml.replace(/listen: "[^"]*"/g, 'listen: "127.0.0.1:0"').replace("./data/edgegate.db", join(dir, "edgegate.db")).replace("127.0.0.1:9090", "127.0.0.1:9");

const loaded = (t: Trace, fragment: string) => [...t.esm, ...t.cjs].some((m) => m.includes(fragment));

test("the built-in defaults load neither the config validator nor what they do not configure (AWS SDK, protobufjs, PromQL parser, RE2, debugging receiver, basic-auth hashing, WebSocket, JSON-schema compilers)", async (t) => {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), "edgegate-footprint-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const trace = await traceGateway(dir, local(DEFAULT_CONFIG_YAML, dir));
  // The trace sees what the gateway does load (else an empty trace would pass).
  for (const m of ["/node_modules/aedes/", "/node_modules/fastify/", "/node_modules/better-sqlite3/", "/node_modules/prom-client/", "/dist/gateway/app.js"]) {
    assert.ok(loaded(trace, m), `${m} should be loaded`);
  }
  // Encoding is hand-written; the Remote-Write schema is for decoding (splitting a refused batch) and
  // is read on first use (the second test shows the read trace does see a .proto being read).
  assert.ok(!trace.read.some((f) => f.endsWith("remote.proto")), "the Remote-Write schema is not read at start");
  assert.ok(!loaded(trace, "/node_modules/snappy/"), "native snappy loads with the first batch compressed, not at start");
  const absent: [string, string][] = [
    ["/node_modules/zod/", "zod (the config is validated in a worker thread)"],
    ["/node_modules/yaml/", "the YAML parser (config and YAML registries only)"],
    ["/dist/gateway/config/load.js", "the config loader"],
    ["/node_modules/@aws-sdk/", "the AWS SDK (sigv4 role assumption only)"],
    ["/node_modules/@smithy/", "the AWS signer (sigv4 only)"],
    ["/dist/gateway/remote-write/receiver.js", "the debugging receiver (`edgegate receive` only)"],
    ["/node_modules/bcryptjs/", "bcrypt (HTTP basic auth only)"],
    ["/node_modules/ws/", "WebSocket (mqtt.websocket only)"],
    ["/node_modules/ajv/", "fastify's JSON-schema validator (no route has a schema)"],
    ["/node_modules/fast-json-stringify/index.js", "fastify's schema serializer compiler (no route has a schema)"],
    ["/node_modules/@prometheus-io/lezer-promql/", "the PromQL parser (the config's selectors are parsed in the config thread)"],
    ["/node_modules/@lezer/", "lezer (the PromQL parser's runtime)"],
    ["/node_modules/re2js/", "re2js (`vehicle_.*` is a prefix: no RE2 check or engine needed)"],
    ["/node_modules/protobufjs/", "protobufjs (encoding is hand-written; decoding a refused batch or protobuf telemetry only)"],
    ["/node_modules/long/", "long (protobufjs's int64)"],
  ];
  const wrong = absent.filter(([m]) => loaded(trace, m)).map(([, why]) => why);
  assert.deepEqual(wrong, [], `loaded although the default config does not use them: ${wrong.join("; ")}`);
  assert.ok(!trace.read.some((f) => f.endsWith("telemetry.proto")), "the protobuf telemetry schema is parsed only for a `format: protobuf` topic");
});

test("a config that uses the protobuf telemetry format does parse its schema (the trace sees it)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-footprint-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const yaml = local(DEFAULT_CONFIG_YAML, dir).replace("format: json", "format: protobuf");
  assert.notEqual(yaml, local(DEFAULT_CONFIG_YAML, dir), "the defaults have a `format: json` topic to switch");
  const trace = await traceGateway(dir, yaml);
  assert.ok(trace.read.some((f) => f.endsWith("telemetry.proto")), "telemetry.proto read");
  assert.ok(loaded(trace, "/node_modules/protobufjs/"), "protobufjs loaded with the schema");
});

test("a selector regex beyond the simple shapes loads RE2 to check and run it, still without the PromQL parser on the gateway's thread", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-footprint-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // `(?i)` is translated to a V8 RegExp, but only RE2 may say whether the pattern is valid.
  const yaml = local(DEFAULT_CONFIG_YAML, dir).replace(`'{__name__=~"vehicle_.*"}'`, `'{__name__=~"(?i)vehicle_.*"}'`);
  assert.notEqual(yaml, local(DEFAULT_CONFIG_YAML, dir), "the defaults have the `vehicle_.*` selector to change");
  const trace = await traceGateway(dir, yaml);
  assert.ok(loaded(trace, "/node_modules/re2js/"), "re2js loaded for a pattern with regex syntax");
  assert.ok(!loaded(trace, "/node_modules/@prometheus-io/lezer-promql/"), "the selector was parsed in the config thread");
});
