import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildGateway } from "../../gateway/app.js";
import { parseConfig } from "../../gateway/config/load.js";
import { Outbox } from "../../gateway/outbox/outbox.js";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { REPO } from "../helpers/gateway-process.js";
import { connectDevice } from "../helpers/gateway-inproc.js";
import { rwBatch, until } from "../helpers/sender-rig.js";

/** `edgegate outbox ...` as a user runs it; resolves with exit code and output. */
function cli(args: string[], cwd: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), join(REPO, "gateway", "main.ts"), "outbox", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", (code) => {
      clearTimeout(guard);
      resolve({ code, out, err });
    });
  });
}

test("edgegate outbox status / dead-letters / requeue / purge on a stopped gateway's file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, "data", "o.db");
  writeFileSync(join(dir, "edgegate.yaml"), `storage: {path: "./data/o.db"}\ntopics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9/api/v1/write", name: prom}]\n`);
  const ob = Outbox.open(db, { maintenanceIntervalMs: 0 });
  ob.append("prom", [rwBatch("x", [1, 2, 3]), rwBatch("y", [4])], Date.now() - 60_000);
  ob.deadLetter(ob.oldest("prom")!, "400", "out of order sample");
  ob.close();

  const status = await cli(["status", "--config", "edgegate.yaml", "--json"], dir);
  assert.equal(status.code, 0, status.err);
  const s = JSON.parse(status.out) as { queues: { target: string; rows: number; samples: number }[]; deadLetters: { rows: number; samples: number }[]; runState: { running: boolean } };
  assert.deepEqual(s.queues.map((q) => [q.target, q.rows, q.samples]), [["prom", 1, 1]]);
  assert.deepEqual(s.deadLetters.map((d) => [d.rows, d.samples]), [[1, 3]]);
  assert.equal(s.runState.running, false);
  const text = await cli(["status", "--config", "edgegate.yaml"], dir);
  assert.match(text.out, /queue prom: 1 batch\(es\), 1 sample\(s\), \d+ bytes, oldest 6\d s ago/);

  const dl = await cli(["dead-letters", "--config", "edgegate.yaml"], dir);
  assert.match(dl.out, /^#1 target=prom samples=3 status=400 attempts=0 .*\n {4}out of order sample\n$/);

  assert.match((await cli(["requeue", "--db", db, "--id", "1"], dir)).out, /requeued 1 batch\(es\), 3 sample\(s\)/);
  const after = Outbox.open(db, { maintenanceIntervalMs: 0 });
  assert.equal(after.oldest("prom")?.samples, 3, "back at the head of its queue");
  after.close();

  assert.match((await cli(["purge", "--db", db], dir)).out, /purged 0 dead letter/);
  const refused = await cli(["purge", "--db", db, "--pending"], dir);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /--pending needs --target/);
  assert.match((await cli(["purge", "--db", db, "--pending", "--target", "prom"], dir)).out, /purged 2 waiting batch\(es\), 4 sample\(s\)/);
  const missing = await cli(["status", "--db", join(dir, "nope.db")], dir);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /cannot open outbox .*nope\.db/);
});

test("requeue while the gateway runs: the running sender picks the batch up and delivers it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-cli-live-"));
  let refuse = true;
  const rx = await startFakeReceiver({ respond: () => (refuse ? { status: 400, body: "refused" } : 204) });
  const path = join(dir, "o.db");
  const config = parseConfig(
    `mqtt: {listen: "127.0.0.1:0"}\nhttp: {listen: "127.0.0.1:0"}\nstorage: {path: "${path}", flush_interval: 100ms}\ntopics: [{topic: "a/{id}", timestamp_field: ts}]\nremote_write: [{url: "${rx.url}", name: prom, queue_config: {min_backoff: 10ms, max_backoff: 50ms}}]\n`,
    "test",
  );
  const gw = buildGateway(config);
  await gw.start();
  t.after(async () => {
    await gw.close();
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const dev = await connectDevice(gw, "dev1");
  await dev.publishAsync("a/dev1", JSON.stringify({ ts: Date.now() - 1000, late: 7 }), { qos: 1 });
  await dev.endAsync();
  await until(() => gw.status().outbox.dead_letter_rows === 1, 5000, "the batch to be refused and dead-lettered");

  const admin = await cli(["status", "--db", path, "--json"], dir);
  assert.equal((JSON.parse(admin.out) as { runState: { running: boolean } }).runState.running, true, "the CLI sees the gateway's run marker");
  refuse = false;
  const r = await cli(["requeue", "--db", path, "--target", "prom"], dir);
  assert.equal(r.code, 0, r.err);
  await until(() => rx.samples().some((s) => s.labels.__name__ === "late" && s.value === 7), 5000, "the requeued batch to be delivered");
  await until(() => gw.status().outbox.rows === 0 && gw.status().outbox.dead_letter_rows === 0, 3000, "queue and dead letters empty");
  assert.deepEqual(rx.requests.map((q) => q.status), [400, 204]);
});
