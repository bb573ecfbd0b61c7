import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeWriteRequest, snappyCompress } from "../../gateway/remote-write/codec.js";
import { REPO } from "../helpers/gateway-process.js";

/** The `edgegate` command as a user runs it (through tsx here; `dist/` in production). */
const MAIN = join(REPO, "gateway", "main.ts");
const TSX = import.meta.resolve("tsx");
const edgegate = (args: string[]) => spawnSync(process.execPath, ["--import", TSX, MAIN, ...args], { encoding: "utf8", timeout: 30_000 });

test("--check-config: exit 0 for a valid file, 1 naming each bad key path and value", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, "good.yaml");
  writeFileSync(good, `topics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9090/api/v1/write"}]\n`);
  const ok = edgegate(["--check-config", good]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /valid/);

  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, `topics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://x/api/v1/write", queue_config: {max_backoff: soon}}]\nmqtt: {listen: 1883}\n`);
  const r = edgegate(["--check-config", bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /remote_write\[0\]\.queue_config\.max_backoff: .*"soon"/);
  assert.match(r.stderr, /mqtt\.listen: .*1883/);

  // errors found when compiling (selectors, topic templates) are config errors too, with their key
  const sel = join(dir, "sel.yaml");
  writeFileSync(sel, `topics: [{topic: "a/{id}/#/x"}]\naggregation: [{match: 'rate(x[5m])', interval: 10s, outputs: [avg]}]\nremote_write: [{url: "http://x/api/v1/write"}]\n`);
  const s = edgegate(["--check-config", sel]);
  assert.equal(s.status, 1);
  assert.match(s.stderr, /topics\[0\]\.topic|aggregation\[0\]\.match/);

  const missing = edgegate(["--check-config", join(dir, "nope.yaml")]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read file/);
});

test("--print-defaults prints a config that --check-config accepts", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = edgegate(["--print-defaults"]);
  assert.equal(r.status, 0);
  writeFileSync(join(dir, "d.yaml"), r.stdout);
  assert.equal(edgegate(["--check-config", join(dir, "d.yaml")]).status, 0);
});

test("edgegate receive prints each sample it receives and stops on SIGTERM", async () => {
  const child = spawn(process.execPath, ["--import", TSX, MAIN, "receive", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 20_000);
    child.stderr.on("data", () => {
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  const body = snappyCompress(
    encodeWriteRequest([{ labels: [{ name: "__name__", value: "up" }, { name: "job", value: "x" }], samples: [{ value: 1, timestamp: 1_700_000_000_000 }] }]),
  );
  const res = await fetch(url, {
    method: "POST",
    body: Buffer.from(body),
    headers: { "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "X-Prometheus-Remote-Write-Version": "0.1.0" },
  });
  assert.equal(res.status, 204);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.match(out, /^up\{job="x"\} 1 @1700000000000 \(2023-11-14T22:13:20\.000Z\)$/m);
});

test("a bad --listen is refused with a message naming it", () => {
  const r = edgegate(["receive", "--listen", "nowhere"]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--listen must be host:port/);
});

test("--check-config refuses a listen address the gateway could not bind (port out of range), naming mqtt.listen", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "port.yaml");
  writeFileSync(file, `mqtt: {listen: "0.0.0.0:99999"}\nhttp: {listen: "127.0.0.1:65535"}\ntopics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9090/api/v1/write"}]\n`);
  const r = edgegate(["--check-config", file]);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /mqtt\.listen: .*"0\.0\.0\.0:99999"/);
  assert.doesNotMatch(r.stderr, /http\.listen/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "a config error, not a stack trace");
});
