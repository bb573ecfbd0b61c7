import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import pino from "pino";
import { Core, parseDuration, type Sample } from "../gateway/core.js";
import { parseConfig } from "../gateway/config/load.js";
import { createMetrics } from "../gateway/metrics/catalogue.js";
import { Outbox } from "../gateway/outbox/outbox.js";
import { Durability } from "../gateway/recovery.js";
import { OutboxSink } from "../gateway/remote-write/pending-series.js";
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
 * 3. Checkpoint: what the gateway commits after a tick that flushed — the
 *    real `Durability` over a real SQLite outbox file (WAL, synchronous =
 *    FULL) and its journal writer thread — with N series in the open window,
 *    three ways, interleaved, medians of 3: the JSON text earlier versions
 *    committed in the tick's transaction (the baseline), the binary row in
 *    the tick's transaction (what the gateway does below 50,000 series), and
 *    the checkpoint off the event loop (processing held, state encoded a
 *    slice per turn, blob stored by the writer thread, then the tick's
 *    transaction): wall and CPU time, and for the last the max event-loop
 *    delay while it ran (an idle loop: what it takes from ingest).
 *
 * In phase 2 the tick that flushes is followed, in the same event-loop turn,
 * by the gateway's commit, so the max loop delay of the flush pass covers the
 * flush AND its checkpoint. `CARDINALITY_CHECKPOINT` picks which: `offload`
 * (the gateway's default at these sizes), `binary` (in the transaction) or
 * `json` (the before figure). While a checkpoint is off the event loop the
 * gateway holds processing (messages are still acknowledged and journaled):
 * the bench's ingest turns then queue their batches and process them when it
 * ends, as the group committer does.
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
  /** Phase 3: the gateway's checkpoint commit (binary), wall and CPU ms, median of 3; and its bytes. */
  checkpointMs: number;
  checkpointCpuMs: number;
  checkpointBytes: number;
  /** Phase 3: the JSON text checkpoint of earlier versions, same state and file, interleaved: the same-run baseline. */
  checkpointJsonMs: number;
  checkpointJsonCpuMs: number;
  checkpointJsonBytes: number;
  /** Phase 3: the checkpoint off the event loop: commit to committed (wall ms), CPU ms of this process (all threads), max event-loop delay meanwhile (ms). */
  checkpointOffloadMs: number;
  checkpointOffloadCpuMs: number;
  checkpointOffloadMaxLoopDelayMs: number;
  /** Phase 2: the commit right after the flush tick (what `CARDINALITY_CHECKPOINT` chose), wall ms until committed, and CPU ms of the call itself. */
  flushCheckpointMs: number;
  flushCheckpointCpuMs: number;
  checkpointFormat: string;
  emitted: number;
}

const BATCH = 1000;

function labelsOf(i: number): Sample["labels"] {
  // Fresh strings per sample, as a decoder produces them (topic segment, JSON field values).
  return { __name__: "vehicle_speed_kmh", vin: `EGWSM${String(i).padStart(12, "0")}`, fleet: `f${i % 3}`, model: "ev-van" };
}

const cpuMs = (c0: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

const median3 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function child(n: number): Promise<CardinalityResult> {
  const config = parseConfig(`${BENCH_RULES_YAML}limits: {max_series: 0}\n`, "bench");
  const rule = config.aggregation[0]!;
  const interval = parseDuration(rule.interval);
  const lateness = parseDuration(rule.allowed_lateness ?? "0s");
  const mode = process.env["CARDINALITY_CHECKPOINT"];
  const format = mode === "json" || mode === "binary" ? mode : "offload";
  let emitted = 0;
  // The gateway's storage side: a real outbox file, its sink, and the durability layer that commits checkpoints.
  const dir = mkdtempSync(join(tmpdir(), "edgegate-cardinality-"));
  const storagePath = join(dir, "outbox.db");
  const outbox = Outbox.open(storagePath);
  const metrics = createMetrics();
  const log = pino({ level: "silent" });
  const sink = new OutboxSink(outbox, config.remote_write.map((rw) => ({ name: "bench", maxSamplesPerSend: rw.queue_config.max_samples_per_send })), metrics, log);
  const core = new Core(config, { onDrop: (r, k) => { if (process.env.DEBUG_DROPS) process.stderr.write(`${r} ${k}\n`); } }, (s) => {
    emitted += s.length;
    sink.write(s);
  });
  const { pipeline } = core;
  const t0 = Math.floor(Date.now() / interval) * interval - 10 * interval;
  let clock = t0;
  const durability = new Durability({
    outbox,
    sink: () => sink,
    core: () => core,
    process: () => undefined,
    metrics,
    log,
    now: () => clock,
    checkpointIntervalMs: 0,
    journalMaxBytes: 64 * 1024 * 1024,
    storagePath,
    checkpointOffloadMinSeries: 0,
  });
  durability.recover();
  // The group committer's hold, as the gateway wires it: ingest turns queue their batches while it is
  // set; after the next poll phase they are processed in order, at most 10 ms per turn (GroupCommitter.drain).
  let held = false;
  const queued: Sample[][] = [];
  const drain = (): void => {
    const until = performance.now() + 10;
    while (queued.length > 0 && !held) {
      pipeline.push(queued.shift()!, clock);
      if (queued.length > 0 && performance.now() > until) {
        setImmediate(drain);
        return;
      }
    }
  };
  durability.holdProcessing = (on) => {
    held = on;
    if (!on) setImmediate(() => setImmediate(drain));
  };
  for (let i = 0; i < 300 && !durability.writerReady(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!durability.writerReady()) throw new Error("the journal writer thread did not start");
  const aggregate = core.built.aggregate;
  /** What earlier versions committed after a flushing tick: the same transaction, the checkpoint as JSON text. */
  const jsonCommit = (): number => {
    let bytes = 0;
    const pending = outbox.atomically(() => {
      const p = sink.flushAtomic();
      durability.journal.savePosition("outbox", 0, clock);
      const data = JSON.stringify({ aggregate: aggregate.snapshot(), order: sink.orderState(p) });
      bytes = Buffer.byteLength(data);
      durability.journal.savePosition("checkpoint", 0, clock, data);
      return p;
    });
    pending.committed();
    return bytes;
  };
  /** The binary checkpoint in the tick's transaction (`force`: as at a reload, never off the event loop). */
  const binaryCommit = (): void => {
    if (!durability.commit(true, false, true)) throw new Error("the checkpoint commit failed");
    if (durability.journal.load("checkpoint")?.savedMs !== clock) throw new Error("the commit wrote no checkpoint");
  };
  /** The gateway's commit after a flushing tick at this size: off the event loop; resolves when committed. */
  const offloadCommit = async (): Promise<void> => {
    if (!durability.commit(true, false)) throw new Error("the checkpoint commit failed");
    if (!durability.busy()) throw new Error("the checkpoint was not written off the event loop");
    await durability.settled();
    const row = durability.journal.load("checkpoint");
    if (row?.savedMs !== clock || !Buffer.isBuffer(row.data) || row.data.readUInt32LE(4) !== 3) throw new Error("the commit wrote no checkpoint referring to a blob");
  };
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

  // 3. The checkpoint the gateway would commit now, against the JSON text of earlier versions (interleaved).
  clock = t0 + 1000;
  const bin = { ms: [] as number[], cpu: [] as number[] };
  const js = { ms: [] as number[], cpu: [] as number[] };
  const off = { ms: [] as number[], cpu: [] as number[], loop: [] as number[] };
  let checkpointJsonBytes = 0;
  for (let k = 0; k < 3; k++) {
    gc();
    let w0 = performance.now();
    let c0 = process.cpuUsage();
    checkpointJsonBytes = jsonCommit();
    js.ms.push(performance.now() - w0);
    js.cpu.push(cpuMs(c0));
    gc();
    w0 = performance.now();
    c0 = process.cpuUsage();
    binaryCommit();
    bin.ms.push(performance.now() - w0);
    bin.cpu.push(cpuMs(c0));
    gc();
    const hOff = monitorEventLoopDelay({ resolution: 1 });
    hOff.enable();
    w0 = performance.now();
    c0 = process.cpuUsage();
    await offloadCommit();
    off.ms.push(performance.now() - w0);
    off.cpu.push(cpuMs(c0));
    await new Promise((r) => setTimeout(r, 5)); // the histogram records a turn's delay when the next one starts
    hOff.disable();
    off.loop.push(hOff.max / 1e6);
  }
  // The row as the binary commit writes it: its size.
  binaryCommit();
  const stored = durability.journal.load("checkpoint")!.data;
  const checkpointBytes = typeof stored === "string" ? Buffer.byteLength(stored) : stored.length;
  gc();

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
  let flushCheckpointMs = 0;
  let flushCheckpointCpuMs = 0;
  let maxBatchMs = 0;
  clock = nowB;
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
        if (held || queued.length > 0) queued.push(out); // behind what waits, in order
        else pipeline.push(out, nowB);
        const bms = performance.now() - b0;
        if (process.env["DEBUG_SLOW"] && bms > 20) process.stderr.write(`slow batch at ${i}: ${bms.toFixed(1)} ms\n`);
        maxBatchMs = Math.max(maxBatchMs, bms);
        if (!flushed && i >= n) {
          flushed = true;
          hIngest.disable();
          h.enable();
          // On a timer, as the gateway's window clock runs: between ingest turns. Then, in the same
          // turn as the gateway's tick: the outbox rows, the journal position and the checkpoint.
          setTimeout(() => {
            const f0 = performance.now();
            const c0 = process.cpuUsage();
            const before = emitted;
            core.tick(nowB);
            flushTickMs = performance.now() - f0;
            flushTickCpuMs = cpuMs(c0);
            const k0 = performance.now();
            const k1 = process.cpuUsage();
            if (emitted === before) throw new Error("the tick flushed nothing");
            if (format === "json") jsonCommit();
            else if (format === "binary") binaryCommit();
            else if (!durability.commit(true, false) || !durability.busy()) throw new Error("the checkpoint was not written off the event loop");
            flushCheckpointCpuMs = cpuMs(k1);
            if (format === "offload") void durability.settled().then(() => (flushCheckpointMs = performance.now() - k0));
            else flushCheckpointMs = performance.now() - k0;
          }, 0);
        }
        if (i < 2 * n) setImmediate(step);
        else {
          // Done when the checkpoint is committed and what waited meanwhile is processed.
          const done = (): void => void (queued.length > 0 ? setTimeout(done, 5) : setTimeout(resolve, 20));
          void durability.settled().then(done);
        }
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
  if (outbox.depth().rows === 0) throw new Error("the flush's outputs did not reach the outbox: the benchmark is not measuring the gateway's commit");
  durability.close();
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
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
    checkpointMs: median3(bin.ms),
    checkpointCpuMs: median3(bin.cpu),
    checkpointBytes,
    checkpointJsonMs: median3(js.ms),
    checkpointJsonCpuMs: median3(js.cpu),
    checkpointJsonBytes,
    checkpointOffloadMs: median3(off.ms),
    checkpointOffloadCpuMs: median3(off.cpu),
    checkpointOffloadMaxLoopDelayMs: median3(off.loop),
    flushCheckpointMs,
    flushCheckpointCpuMs,
    checkpointFormat: format,
    emitted,
  };
}

/** Runs one size in a fresh `node --expose-gc` child process. */
export function benchCardinality(n: number, checkpoint: "offload" | "binary" | "json" = "offload"): Promise<CardinalityResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--expose-gc", "--max-old-space-size=4096", "--import", "tsx", import.meta.filename, "--child", String(n)], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, NODE_OPTIONS: "", CARDINALITY_CHECKPOINT: checkpoint },
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
