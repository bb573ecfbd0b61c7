import { spawn } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Core, parseDuration, type Sample } from "../gateway/core.js";
import { parseConfig } from "../gateway/config/load.js";
import { BENCH_RULES_YAML } from "./config.js";

/**
 * Cardinality: N active input series (100k, 500k, 1M) through the
 * aggregation pipeline (the bench rules: per-fleet 10 s roll-ups, avg / min /
 * max / count_series), each N in a fresh child process so that one size's
 * heap and RSS do not blur the next.
 *
 * 1. Memory: every series sends one sample into one window; after a full GC,
 *    (heapUsed delta) / N and (RSS delta) / N. The label objects the pipeline
 *    keeps (one per series, as a decoder creates them) are part of the cost.
 * 2. Flush stall: the same N series then send twice into the next window
 *    (1 s apart), one batch of 1,000 samples per event-loop turn (ingest
 *    never stops); the window clock flushes the first window as the second
 *    pass begins. The figure is the
 *    max event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution)
 *    over the pass with the flush, against the pass before it (ingest only:
 *    the same-run baseline, on shared cores mostly scheduling and GC), and
 *    the flush tick itself (wall and CPU time).
 * 3. Checkpoint: one aggregation snapshot as JSON (what the gateway commits
 *    with the journal position after a tick that flushed) with N series in
 *    the open window, in ms: a stall of its own, reported next to the flush.
 *
 * Target (issue #12): ≤ 300 B per active series at 1M, max loop delay ≤ 50 ms.
 */
export interface CardinalityResult {
  series: number;
  heapBytesPerSeries: number;
  rssBytesPerSeries: number;
  /** Max event-loop delay over the pass of phase 2 with the flush (ms). */
  maxLoopDelayMs: number;
  p99LoopDelayMs: number;
  /** The same over the first pass, ingest only, no flush: the same-run baseline (on shared cores, mostly scheduling and GC). */
  ingestOnlyMaxLoopDelayMs: number;
  flushTickMs: number;
  /** CPU time (user + system) of the flush tick: what the flush costs whatever the scheduler does. */
  flushTickCpuMs: number;
  maxBatchMs: number;
  checkpointMs: number;
  checkpointBytes: number;
  emitted: number;
}

const BATCH = 1000;

function labelsOf(i: number): Sample["labels"] {
  // Fresh strings per sample, as a decoder produces them (topic segment, JSON field values).
  return { __name__: "vehicle_speed_kmh", vin: `EGWSM${String(i).padStart(12, "0")}`, fleet: `f${i % 3}`, model: "ev-van" };
}

async function child(n: number): Promise<CardinalityResult> {
  const config = parseConfig(`${BENCH_RULES_YAML}limits: {max_series: 0}\n`, "bench");
  const rule = config.aggregation[0]!;
  const interval = parseDuration(rule.interval);
  const lateness = parseDuration(rule.allowed_lateness ?? "0s");
  let emitted = 0;
  const core = new Core(config, { onDrop: (r, k) => { if (process.env.DEBUG_DROPS) process.stderr.write(`${r} ${k}\n`); } }, (s) => (emitted += s.length));
  const { pipeline } = core;
  const t0 = Math.floor(Date.now() / interval) * interval - 10 * interval;
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error("run with --expose-gc");

  // 1. Memory of N active series in one window.
  gc();
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  let batch: Sample[] = [];
  for (let i = 0; i < n; i++) {
    batch.push({ labels: labelsOf(i), value: i, timestamp: t0 + 1000 });
    if (batch.length === BATCH) {
      pipeline.push(batch, t0 + 1000);
      batch = [];
    }
  }
  if (batch.length > 0) pipeline.push(batch, t0 + 1000);
  batch = [];
  gc();
  gc();
  const heap1 = process.memoryUsage().heapUsed;
  const rss1 = process.memoryUsage().rss;
  if (core.built.aggregate.stats().seriesActive !== n) throw new Error(`expected ${n} active series, got ${core.built.aggregate.stats().seriesActive}`);

  // 3. The checkpoint the gateway would write now.
  const c0 = performance.now();
  const snap = JSON.stringify(core.built.aggregate.snapshot());
  const checkpointMs = performance.now() - c0;
  const checkpointBytes = Buffer.byteLength(snap);

  // 2. Ingest into the next window on every turn; the first window closes as the second pass begins.
  const nowB = t0 + interval + lateness + 1; // the first window is due, the second still open
  const tsB = t0 + interval + 1000;
  // Two passes into the second window, 1 s apart, as series sending every second do: the first pass
  // (ingest only) is the baseline; the flush runs at the start of the second, when every series is in
  // both windows (the steady state: releasing the first window forgets none of them).
  const hIngest = monitorEventLoopDelay({ resolution: 1 });
  const h = monitorEventLoopDelay({ resolution: 1 });
  let flushTickMs = 0;
  let flushTickCpuMs = 0;
  let maxBatchMs = 0;
  await new Promise<void>((resolve, reject) => {
    let i = 0;
    let flushed = false;
    hIngest.enable();
    const step = (): void => {
      try {
        const b0 = performance.now();
        const out: Sample[] = [];
        const stop = Math.min(2 * n, i + BATCH);
        for (; i < stop; i++) out.push({ labels: labelsOf(i % n), value: i, timestamp: i < n ? tsB : tsB + 1000 });
        pipeline.push(out, nowB);
        const bms = performance.now() - b0;
        if (process.env["DEBUG_SLOW"] && bms > 20) process.stderr.write(`slow batch at ${i}: ${bms.toFixed(1)} ms\n`);
        maxBatchMs = Math.max(maxBatchMs, bms);
        if (!flushed && i >= n) {
          flushed = true;
          hIngest.disable();
          h.enable();
          // On a timer, as the gateway's window clock runs: between ingest turns.
          setTimeout(() => {
            const f0 = performance.now();
            const c0 = process.cpuUsage();
            core.tick(nowB);
            flushTickMs = performance.now() - f0;
            const c = process.cpuUsage(c0);
            flushTickCpuMs = (c.user + c.system) / 1000;
          }, 0);
        }
        if (i < 2 * n) setImmediate(step);
        else setTimeout(resolve, 20); // let the flush's deferred work, if any, run while monitored
      } catch (err) {
        reject(err as Error);
      }
    };
    setImmediate(step);
  });
  // Deferred work the stage schedules after a flush (if any) still counts: keep monitoring a while.
  await new Promise((r) => setTimeout(r, 200));
  h.disable();
  if (emitted === 0) throw new Error("the first window emitted nothing: the benchmark is not measuring a flush");
  return {
    series: n,
    heapBytesPerSeries: (heap1 - heap0) / n,
    rssBytesPerSeries: (rss1 - rss0) / n,
    maxLoopDelayMs: h.max / 1e6,
    p99LoopDelayMs: h.percentile(99) / 1e6,
    ingestOnlyMaxLoopDelayMs: hIngest.max / 1e6,
    flushTickMs,
    flushTickCpuMs,
    maxBatchMs,
    checkpointMs,
    checkpointBytes,
    emitted,
  };
}

/** Runs one size in a fresh `node --expose-gc` child process. */
export function benchCardinality(n: number): Promise<CardinalityResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--expose-gc", "--max-old-space-size=4096", "--import", "tsx", import.meta.filename, "--child", String(n)], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", reject);
    p.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`cardinality child (${n} series) exited with ${code}`));
      try {
        resolve(JSON.parse(out) as CardinalityResult);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

if (process.argv[2] === "--child") {
  const n = Number(process.argv[3]);
  const r = await child(n);
  process.stdout.write(JSON.stringify(r));
  process.exit(0);
}
