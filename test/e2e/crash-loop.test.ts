import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { checkPrometheus, runCrashLoop, type CrashLoopResult } from "../helpers/crash-loop.js";
import { waitFor } from "../helpers/wait.js";

/**
 * Issue #11, "acknowledged means delivered": kill -9 at random instants while a
 * QoS 1 device streams; then every acknowledged raw sample is in a real
 * Prometheus exactly once, and every window's count_samples / sum_samples /
 * count_series equals what the acknowledged messages imply.
 */

const skip = prometheusAvailable() ? false : "needs Debian's prometheus binary";
const dirs: string[] = [];
let prom: PrometheusHandle | undefined;
let run: CrashLoopResult | undefined;

before(async () => {
  if (skip) return;
  prom = await startPrometheus();
});

after(async () => {
  await run?.gateway.stop();
  await run?.mqttProxy.close();
  await run?.rwProxy.close();
  await prom?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function status(r: CrashLoopResult): Promise<{ outbox: { rows: number; dead_letter_rows: number }; storage: { journal_rows: number } }> {
  return (await (await fetch(`${r.gateway.httpUrl}/api/v1/status`)).json()) as never;
}

/** Waits for the last windows to close and the outbox to drain, then compares with Prometheus. */
async function settleAndCheck(r: CrashLoopResult, label: string, runLabel: string): Promise<void> {
  try {
    await waitFor("the last windows flushed and the outbox drained", async () => {
      const s = await status(r);
      const m = await (await fetch(`${r.gateway.httpUrl}/metrics`)).text();
      const open = Number(/^edgegate_aggregation_windows_open (\S+)$/m.exec(m)?.[1] ?? "1");
      return open === 0 && s.outbox.rows === 0 ? s : undefined;
    }, 60_000, 250);
  } catch (err) {
    console.log(JSON.stringify(await status(r)));
    console.log(r.gateway.output().split("\n").slice(-25).join("\n"));
    throw err;
  }
  const s = await status(r);
  assert.equal(s.outbox.dead_letter_rows, 0, "nothing was refused by Prometheus");
  const check = await checkPrometheus(prom!, r.acked, runLabel);
  console.log(
    `${label}: ${r.sent} messages sent, ${r.acked.length} acknowledged, ${r.kills} × kill -9 (restart ${r.restartMs.join("/")} ms); ` +
      `${check.rawSamples} raw samples and ${check.windows} windows checked; ${check.problems.length} differences`,
  );
  if (check.problems.length > 0) {
    const m = await (await fetch(`${r.gateway.httpUrl}/metrics`)).text();
    console.log(m.split("\n").filter((l) => /dropped|windows|journal|checkpoints_total|written_total|sent_total/.test(l) && !l.startsWith("#")).join("\n"));
    console.log(r.gateway.output().split("\n").slice(-15).join("\n"));
  }
  assert.deepEqual(check.problems, []);
}

test("crash loop: 5 × kill -9 while a QoS 1 device streams, Prometheus restarted on its own data mid-stream", { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-crashloop-"));
  dirs.push(dir);
  run = await runCrashLoop({
    dir,
    prom: prom!,
    durationMs: 30_000,
    kills: 5,
    seed: 11,
    run: "uplink-up",
    async onSecond(second) {
      if (second === 15) await prom!.restart();
    },
  });
  assert.equal(run.kills, 5);
  await settleAndCheck(run, "uplink up", "uplink-up");
  await run.gateway.stop();
  await run.mqttProxy.close();
  await run.rwProxy.close();
  run = undefined;
});

test("crash loop with the uplink down during the crashes", { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-crashloop-down-"));
  dirs.push(dir);
  run = await runCrashLoop({
    dir,
    prom: prom!,
    durationMs: 30_000,
    kills: 5,
    seed: 12,
    run: "uplink-down",
    async onSecond(second, rw) {
      if (second === 3) await rw.setMode({ kind: "refuse" });
      if (second === 27) await rw.setMode({ kind: "forward" });
    },
  });
  await settleAndCheck(run, "uplink down", "uplink-down");
});
