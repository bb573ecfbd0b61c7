import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { operatorChoseOldSpace, operatorChoseSemiSpace } from "../../gateway/startup-memory.js";
import { REPO } from "../helpers/gateway-process.js";

test("a semi-space size the operator sets (command line or NODE_OPTIONS, - or _ spelling) is left alone", () => {
  assert.equal(operatorChoseSemiSpace([], undefined), false);
  assert.equal(operatorChoseSemiSpace(["--enable-source-maps"], "--max-old-space-size=256"), false);
  assert.equal(operatorChoseSemiSpace(["--max-semi-space-size=16"], undefined), true);
  assert.equal(operatorChoseSemiSpace([], "--v8-pool-size=2 --max_semi_space_size=8"), true);
  assert.equal(operatorChoseSemiSpace([], "--semi-space-growth-factor=2"), true);
});

test("the young generation stays at 1 MB per semi-space through start-up allocations and a worker thread (which resets V8's runtime flags)", () => {
  // Allocate well past what makes V8 grow the young generation, with a worker thread in between.
  const script = `
    await import(${JSON.stringify(join(REPO, "gateway", "startup-memory.ts"))}).then(async (m) => {
      const v8 = await import("node:v8");
      const { Worker } = await import("node:worker_threads");
      const size = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
      const before = size();
      const keep = [];
      const churn = () => { for (let i = 0; i < 300000; i++) keep.push({ i, s: "x" + i }); };
      churn();
      await new Promise((r) => { const w = new Worker("1", { eval: true }); w.once("online", m.keepYoungGenerationSmall); w.once("exit", r); });
      m.keepYoungGenerationSmall();
      churn(); churn();
      const kept = size();
      process.stdout.write(JSON.stringify({ before, kept }));
    });`;
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: REPO, env: { ...process.env, NODE_OPTIONS: "", ...env }, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { before: number; kept: number };
  };
  // A worker thread resets V8's flags while it starts, before its "online" event lets the main thread
  // set them again: a scavenge inside that window may grow the young generation (seen ~1 run in 15 on
  // a quiet 2-core box). Up to three fresh processes: without the flag being set again, every run grows.
  let small = run({});
  for (let attempt = 1; attempt < 3 && small.kept !== small.before; attempt++) small = run({});
  assert.equal(small.kept, small.before, `the young generation did not grow: ${JSON.stringify(small)}`);
  // The operator's choice wins: the same allocations with room to grow do grow it.
  const big = run({ NODE_OPTIONS: "--max-semi-space-size=16" });
  assert.ok(big.kept > big.before, `grows when the operator allows it: ${JSON.stringify(big)}`);
});

/**
 * For the scripts below (needs v8 imported and --expose-gc): ~60 MB live, then garbage that survives a few
 * young collections (promoted, dead by the next full one); leaves `live`, `used()` and the `peak` of used.
 */
const HEAP_WORKLOAD = `
  const live = [];
  for (let i = 0; i < 400000; i++) live.push({ i, s: "live" + i, a: [i, i + 1] });
  const used = () => v8.getHeapStatistics().used_heap_size;
  const ring = new Array(64).fill(null);
  let peak = 0;
  for (let round = 0; round < 3000; round++) {
    const batch = [];
    for (let k = 0; k < 2000; k++) batch.push({ k, s: "g" + k });
    ring[round % ring.length] = batch;
    if (round % 20 === 0) peak = Math.max(peak, used());
  }
  globalThis.gc();`;

test("the old generation grows by at most ~30 % over what is live before a full collection, also after a worker thread started; an operator's old-space size is left alone", () => {
  // ~60 MB live, then garbage that survives a few young collections (promoted, dead by the next full one).
  const script = (restart: "reapply" | "none" | "no-worker") => `
    await import(${JSON.stringify(join(REPO, "gateway", "startup-memory.ts"))}).then(async (m) => {
      const v8 = await import("node:v8");
      const { Worker } = await import("node:worker_threads");
      if (${JSON.stringify(restart)} !== "no-worker") {
        await new Promise((r) => { const w = new Worker("1", { eval: true }); if (${JSON.stringify(restart)} === "reapply") w.once("online", m.keepHeapSmall); w.once("exit", r); });
      }
      ${HEAP_WORKLOAD}
      process.stdout.write(JSON.stringify({ peak, live: used(), n: live.length }));
    });`;
  const run = (restart: "reapply" | "none" | "no-worker", nodeOptions = "") => {
    const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", "--input-type=module", "-e", script(restart)], { cwd: REPO, env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const { peak, live } = JSON.parse(r.stdout) as { peak: number; live: number };
    return peak / live;
  };
  const tight = run("no-worker");
  assert.ok(tight < 2, `peak heap ${tight.toFixed(2)}× the live heap with the gateway's setting`);
  const reapplied = run("reapply");
  assert.ok(reapplied < 2, `peak heap ${reapplied.toFixed(2)}× the live heap after a worker thread, setting applied again`);
  // What the setting is for: V8's own growth (a worker thread's reset, or the operator's choice) lets it reach 3–5×.
  const operator = run("no-worker", "--max-old-space-size=4096");
  assert.ok(operator > 2.5, `peak heap ${operator.toFixed(2)}× the live heap when the operator sized the old space`);
});

test("an old-space size the operator sets (command line or NODE_OPTIONS) is left alone", () => {
  assert.equal(operatorChoseOldSpace([], undefined), false);
  assert.equal(operatorChoseOldSpace(["--enable-source-maps"], "--max-semi-space-size=1"), false);
  assert.equal(operatorChoseOldSpace([], "--max-old-space-size=256"), true);
  assert.equal(operatorChoseOldSpace(["--max_old_space_size=512"], undefined), true);
  assert.equal(operatorChoseOldSpace(["--heap-growing-percent=50"], undefined), true);
});

test("the journal's writer thread (a worker: it resets V8's runtime flags) leaves the heap settings in force", () => {
  const script = `
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const v8 = await import("node:v8");
    const { default: Database } = await import("better-sqlite3");
    await import(${JSON.stringify(join(REPO, "gateway", "startup-memory.ts"))});
    const { Journal } = await import(${JSON.stringify(join(REPO, "gateway", "outbox", "journal.ts"))});
    const { JournalWriter } = await import(${JSON.stringify(join(REPO, "gateway", "outbox", "journal-writer.ts"))});
    const dir = mkdtempSync(join(tmpdir(), "edgegate-heapflags-"));
    const path = join(dir, "outbox.db");
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    new Journal(db);
    const writer = new JournalWriter(path);
    for (let i = 0; i < 300 && !writer.available(); i++) await new Promise((r) => setTimeout(r, 50));
    if (!writer.available()) throw new Error("writer thread did not start");
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
    const young0 = newSpace();
    ${HEAP_WORKLOAD}
    process.stdout.write(JSON.stringify({ ratio: peak / used(), young0, young: newSpace(), n: live.length }));
    writer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });`;
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", "--input-type=module", "-e", script], { cwd: REPO, env: { ...process.env, NODE_OPTIONS: "" }, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { ratio: number; young0: number; young: number };
  assert.ok(got.ratio < 2, `peak heap ${got.ratio.toFixed(2)}× the live heap with the writer thread running`);
  assert.equal(got.young, got.young0, `the young generation did not grow: ${JSON.stringify(got)}`);
});
