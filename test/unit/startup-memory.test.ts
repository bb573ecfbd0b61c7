import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { operatorChoseSemiSpace } from "../../gateway/startup-memory.js";
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
  const small = run({});
  assert.equal(small.kept, small.before, `the young generation did not grow: ${JSON.stringify(small)}`);
  // The operator's choice wins: the same allocations with room to grow do grow it.
  const big = run({ NODE_OPTIONS: "--max-semi-space-size=16" });
  assert.ok(big.kept > big.before, `grows when the operator allows it: ${JSON.stringify(big)}`);
});
