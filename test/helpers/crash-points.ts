import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "./prometheus.js";
import { checkPrometheus, runCrashLoop, type CrashLoopResult } from "./crash-loop.js";
import { waitFor } from "./wait.js";

/**
 * Issue #11: the gateway killed at each interesting instant, chosen with the
 * test-only hook EDGEGATE_CRASH_AT (gateway/crash-hook.ts: SIGKILL to itself
 * at that point), while a QoS 1 device streams; restarted plainly; then every
 * acknowledged raw sample is in Prometheus exactly once and every window
 * equals what the acknowledged messages imply. One test per point, in the
 * calling file (each point takes ~15 s: a file holds as many as fit its
 * 120 s test-runner timeout).
 */
export interface CrashPoint {
  point: string;
  after: number;
  kills?: number;
  replay?: boolean;
  what: string;
  env?: Record<string, string>;
}

/** Every checkpoint written off the event loop (blob on the writer thread, processing held), not only those of ≥ 50,000 series. */
export const OFFLOAD = { EDGEGATE_CHECKPOINT_OFFLOAD_MIN_SERIES: "0" };

export function crashPointTests(points: readonly CrashPoint[]): void {
  const skip = prometheusAvailable() ? false : "needs Debian's prometheus binary";
  let prom: PrometheusHandle | undefined;
  const dirs: string[] = [];
  let current: CrashLoopResult | undefined;

  before(async () => {
    if (!skip) prom = await startPrometheus();
  });
  after(async () => {
    await current?.gateway.stop();
    await current?.mqttProxy.close();
    await current?.rwProxy.close();
    await prom?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const p of points) {
    test(`crash point ${p.point} (${p.what}): acknowledged messages arrive exactly once`, { skip, timeout: 120_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), `edgegate-crashpoint-${p.point}-`));
      dirs.push(dir);
      const env = { EDGEGATE_CRASH_AT: p.point, EDGEGATE_CRASH_AFTER: String(p.after), ...p.env };
      current = await runCrashLoop({
        dir,
        prom: prom!,
        durationMs: 8_000,
        kills: p.kills ?? 0,
        seed: 7,
        // Its own run label: the same point with and without OFFLOAD writes into the one Prometheus.
        run: p.env === undefined ? p.point : `${p.point}-offload`,
        ...(p.replay ? { envAfterKill: env } : { firstEnv: env }),
      });
      assert.equal(current.selfKills, 1, `the gateway reached ${p.point} and killed itself once`);
      const r = current;
      await waitFor("the last windows flushed and the outbox drained", async () => {
        const s = (await (await fetch(`${r.gateway.httpUrl}/api/v1/status`)).json()) as { outbox: { rows: number } };
        const m = await (await fetch(`${r.gateway.httpUrl}/metrics`)).text();
        return /^edgegate_aggregation_windows_open 0$/m.test(m) && s.outbox.rows === 0 ? true : undefined;
      }, 60_000, 250);
      const check = await checkPrometheus(prom!, r.acked, p.env === undefined ? p.point : `${p.point}-offload`);
      console.log(`${p.point}: ${r.sent} sent, ${r.acked.length} acknowledged, ${check.rawSamples} raw samples, ${check.windows} windows; ${check.problems.length} differences`);
      assert.deepEqual(check.problems, []);
      await r.gateway.stop();
      await r.mqttProxy.close();
      await r.rwProxy.close();
      current = undefined;
    });
  }
}
