import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/gateway-process.js";

const MAIN = join(REPO, "gateway", "main.ts");
const TSX = import.meta.resolve("tsx");
const edgegate = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, ["--import", TSX, MAIN, ...args], { encoding: "utf8", timeout: 30_000, env });

test("--version and -version print version, revision and Node.js version", () => {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
  for (const flag of ["--version", "-version"]) {
    const r = edgegate([flag]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^edgegate, version \d+\.\d+\.\d+ \(revision: [0-9a-f]{40}\)\n/);
    if (head) assert.ok(r.stdout.includes(head), r.stdout);
    assert.ok(r.stdout.includes(`node version:     ${process.version}`));
  }
});

test("--check-config names an unset ${VAR}; with it set the config is valid", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-env-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "e.yaml");
  writeFileSync(file, `topics: [{topic: "a/{id}"}]\nremote_write: [{url: "\${EDGEGATE_TEST_RW_URL}"}]\n`);
  const env = { ...process.env };
  delete env.EDGEGATE_TEST_RW_URL;
  const bad = edgegate(["--check-config", file], env);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /line 2: environment variable EDGEGATE_TEST_RW_URL is not set/);
  const good = edgegate(["--check-config", file], { ...env, EDGEGATE_TEST_RW_URL: "http://127.0.0.1:9/api/v1/write" });
  assert.equal(good.status, 0, good.stderr);
});

test("--log.format=logfmt and --log.level: the running gateway logs logfmt lines", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-logfmt-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, "c.yaml");
  writeFileSync(cfg, `mqtt: {listen: "127.0.0.1:0"}\nhttp: {listen: "127.0.0.1:0"}\nstorage: {path: "${join(dir, "o.db")}"}\ntopics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]\n`);
  async function run(args: string[], until: (out: string) => boolean): Promise<string> {
    const child = spawn(process.execPath, ["--import", TSX, MAIN, "--config", cfg, ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 300 && !until(out); i++) await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    return out;
  }
  const out = await run(["--log.format=logfmt"], (o) => o.includes('msg="edgegate started"'));
  assert.match(out, /^ts=\S+ level=info msg="edgegate started" mqtt=127\.0\.0\.1:\d+ /m, out);
  assert.match(out, /^ts=\S+ level=info msg="edgegate stopped" /m, out);
  assert.doesNotMatch(out, /^\{"level"/m, "no JSON lines");
  // --log.level wins over --log-level: at warn, a clean start and stop log nothing.
  const t0 = Date.now();
  const quiet = await run(["--log.format=logfmt", "--log-level=info", "--log.level=warn"], (o) => o.length > 0 || Date.now() - t0 > 4000);
  assert.equal(quiet, "");
  const json = await run(["--log-level=info"], (o) => o.includes('"edgegate started"'));
  assert.match(json, /^\{"level":30,/m, "not a terminal: json by default");
});
