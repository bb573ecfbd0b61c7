import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/gateway-process.js";

/** The compiled gateway, as production runs it (`npm run build`, which `npm install` runs too). */
const MAIN = join(REPO, "dist", "gateway", "main.js");

type Line = { msg?: string; component?: string; ms?: number; signal?: string; trigger?: string; mqtt?: string; http?: string };

test("SIGHUP reloads the configuration and the process keeps serving; SIGTERM closes every component in reverse start order, each logged with its duration", async (t) => {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), "edgegate-proc-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, "edgegate.yaml");
  writeFileSync(
    cfg,
    `mqtt: {listen: "127.0.0.1:0"}\nhttp: {listen: "127.0.0.1:0"}\nstorage: {path: "${join(dir, "o.db")}"}\ntopics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]\n`,
  );
  const child = spawn(process.execPath, [MAIN, "--config", cfg, "--log-level", "info"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const lines = (): Line[] => out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);
  const waitFor = async (what: string, pred: (l: Line) => boolean): Promise<Line> => {
    for (let i = 0; i < 300; i++) {
      const hit = lines().find(pred);
      if (hit) return hit;
      if (child.exitCode !== null || child.signalCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no ${what} line; exit ${child.exitCode ?? child.signalCode}:\n${out}`);
  };
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once("exit", (code, sig) => r([code, sig])));

  const started = await waitFor("started", (l) => l.msg === "edgegate started");
  const startOrder = lines().filter((l) => l.msg === "component started").map((l) => l.component);
  assert.deepEqual(startOrder, ["outbox", "http", "senders", "pipeline", "mqtt"]);

  child.kill("SIGHUP");
  await waitFor("SIGHUP reload", (l) => l.msg === "configuration reloaded" && l.trigger === "SIGHUP");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(child.exitCode, null, "SIGHUP must not end the process");
  assert.equal(child.signalCode, null, "SIGHUP must not end the process");
  const port = started.http!.slice(started.http!.lastIndexOf(":") + 1);
  const healthy = await fetch(`http://127.0.0.1:${port}/-/healthy`);
  assert.equal(healthy.status, 200);

  child.kill("SIGTERM");
  const [code] = await exited;
  assert.equal(code, 0, out);
  const closed = lines().filter((l) => l.msg === "component closed");
  assert.deepEqual(closed.map((l) => l.component), ["mqtt", "pipeline", "senders", "http", "outbox"]);
  for (const l of closed) assert.equal(typeof l.ms, "number", JSON.stringify(l));
  assert.ok(lines().some((l) => l.msg === "edgegate stopped"));
});
