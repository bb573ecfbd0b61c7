import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sample } from "../gateway/core.js";
import { Outbox } from "../gateway/outbox/outbox.js";
import { encodeWriteRequest, snappyCompress, splitBatches } from "../gateway/remote-write/codec.js";
import { SeriesView } from "../gateway/remote-write/pending-series.js";
import { queueName, queueTarget } from "../gateway/remote-write/queue-names.js";
import { splitByShard } from "../gateway/remote-write/shard.js";
import { startPrometheus, type PrometheusHandle } from "../test/helpers/prometheus.js";
import { median } from "./stats.js";
import { requireTools } from "./tools.js";

/**
 * replay: an outage left SAMPLES samples buffered; the receiver comes back as
 * a fresh Prometheus (Debian's 2.42, remote-write receiver on). Timed from
 * the start of the process that drains until Prometheus has appended every
 * sample (prometheus_tsdb_head_samples_appended_total), then checked with a
 * count query.
 *
 * - edgegate: the outbox as a live gateway leaves it after the outage: one
 *   flush per second (storage.flush_interval), each encoded by the sink's path
 *   (SeriesView → splitBatches → WriteRequest → snappy) and committed with the
 *   time it was flushed. `node dist/gateway/main.js` then drains it.
 *   queue_config.replay_speed: 0 (the default, 20, deliberately replays a
 *   backlog at most 20× real time; vmagent has no such limit by default).
 * - vmagent (Debian's /usr/bin/vmagent): the same request bodies pushed to its
 *   own /api/v1/write while its -remoteWrite.url has no listener, so they wait
 *   in -remoteWrite.tmpDataPath; stopped, then restarted with that URL now a
 *   fresh Prometheus's (vmagent keys its on-disk queue by URL, so the port is
 *   chosen beforehand).
 *
 * REPLAY_ROUNDS (3), REPLAY_SHARDS (1) and REPLAY_MAX_SAMPLES (queue_config.
 * max_samples_per_send of the drain; default 2000) vary the run.
 *
 * Each round copies the filled outbox file / vmagent queue folder, so every
 * run drains the same data; rounds alternate edgegate and vmagent.
 */

const SERIES = 1000;
const SECONDS = 1000;
export const REPLAY_SAMPLES = SERIES * SECONDS;
const METRIC = "replay_vehicle_speed_kmh";
const TARGET = "prom";
const REPO = join(import.meta.dirname, "..");
/**
 * vmagent sends its queue over -remoteWrite.queues (default 2 × CPUs) connections
 * at once, so a series' blocks can arrive out of order: Prometheus without an
 * out-of-order window answers 400 and vmagent drops the block (lost data). Both
 * runs get a Prometheus with this window, so the baseline delivers everything.
 */
const OOO_WINDOW = "1h";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The outage: SECONDS flushes of one sample per series, ending now. Returns the request bodies, in order. */
function fillOutbox(path: string, endMs: number, shards: number): Uint8Array[] {
  const outbox = Outbox.open(path, { maintenanceIntervalMs: 0, group: queueTarget });
  const view = new SeriesView([], () => undefined);
  const bodies: Uint8Array[] = [];
  const start = endMs - SECONDS * 1000;
  for (let s = 0; s < SECONDS; s++) {
    const ts = start + s * 1000;
    const samples: Sample[] = [];
    for (let k = 0; k < SERIES; k++) {
      samples.push({ labels: { __name__: METRIC, vin: `EGWSM${String(k).padStart(12, "0")}`, fleet: `f${k % 3}`, model: "ev-van" }, value: (k + s) % 130, timestamp: ts });
    }
    const series = view.take(samples);
    const perShard = (shards > 1 ? splitByShard(series, shards) : [series]).map((part, k) => ({
      queue: queueName(TARGET, k, shards),
      batches: splitBatches(part, 2000).map((b) => ({ payload: snappyCompress(encodeWriteRequest(b)), samples: b.reduce((n, x) => n + x.samples.length, 0) })),
    }));
    outbox.appendQueues(TARGET, perShard, ts + 1000);
    for (const q of perShard) for (const b of q.batches) bodies.push(b.payload);
  }
  if (outbox.depth(TARGET).samples !== REPLAY_SAMPLES) throw new Error(`replay bench: outbox holds ${outbox.depth(TARGET).samples} samples, expected ${REPLAY_SAMPLES}`);
  outbox.close();
  return bodies;
}

async function appended(prom: PrometheusHandle): Promise<number> {
  const text = await fetch(`${prom.url}/metrics`).then((r) => r.text());
  let n = 0;
  for (const m of text.matchAll(/^prometheus_tsdb_head_samples_appended_total(?:\{[^}]*\})? (\S+)$/gm)) n += Number(m[1]);
  return n;
}

/** Waits (bounded) until Prometheus appended everything; returns the time it did, then checks the stored count. */
async function waitStored(prom: PrometheusHandle, child: ChildProcess, what: string, timeoutMs: number, log: () => string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await appended(prom)) >= REPLAY_SAMPLES) break;
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before the drain finished:\n${log().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${what}: Prometheus has ${await appended(prom)} of ${REPLAY_SAMPLES} samples after ${timeoutMs} ms:\n${log().slice(-2000)}`);
    await sleep(50);
  }
  const done = performance.now();
  const [r] = await prom.query(`sum(count_over_time(${METRIC}[1h]))`);
  if (r?.value !== REPLAY_SAMPLES) throw new Error(`${what}: Prometheus holds ${r?.value} samples of ${METRIC}, expected ${REPLAY_SAMPLES}`);
  return done;
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(t);
}

function capture(child: ChildProcess): () => string {
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  return () => out;
}

export interface DrainRun {
  /** spawn → Prometheus has every sample */
  seconds: number;
  samplesPerSecond: number;
  /** spawn → ready to send: edgegate's "component started" line for its senders; vmagent's /health answering */
  readySeconds: number;
}

async function drainEdgegate(template: string, work: string, shards: number): Promise<DrainRun> {
  const dir = mkdtempSync(join(work, "edgegate-"));
  const db = join(dir, "edgegate.db");
  cpSync(template, db);
  const prom = await startPrometheus({ outOfOrderWindow: OOO_WINDOW });
  const cfg = join(dir, "edgegate.yaml");
  writeFileSync(
    cfg,
    `mqtt: {listen: "127.0.0.1:0", auth: {allow_anonymous: true}}
http: {listen: "127.0.0.1:0"}
storage: {path: ${JSON.stringify(db)}}
topics: [{topic: "vehicles/{vin}/telemetry", format: json}]
forward_unmatched: true
remote_write:
  - url: ${JSON.stringify(prom.writeUrl)}
    name: ${TARGET}
    queue_config: {replay_speed: 0, shards: ${shards}${process.env.REPLAY_MAX_SAMPLES ? `, max_samples_per_send: ${Number(process.env.REPLAY_MAX_SAMPLES)}` : ""}}
`,
  );
  const t0 = performance.now();
  // REPLAY_NODE_ARGS: e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the sender.
  const nodeArgs = (process.env.REPLAY_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  const child = spawn(process.execPath, [...nodeArgs, join(REPO, "dist", "gateway", "main.js"), "--config", cfg, "--log-level", "info"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const log = capture(child);
  let ready = Number.NaN;
  let tail = ""; // a line may come in two chunks
  const onData = (d: Buffer) => {
    if (!Number.isNaN(ready)) return;
    tail = (tail + d.toString()).slice(-8192);
    if (/"component":"senders"[^\n]*"component started"|"component started"[^\n]*"component":"senders"/.test(tail)) ready = performance.now();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  try {
    const done = await waitStored(prom, child, "edgegate", 600_000, log);
    const seconds = (done - t0) / 1000;
    if (Number.isNaN(ready)) throw new Error(`edgegate: no "component started" line for its senders in its log:\n${log().slice(-2000)}`);
    if (process.env.REPLAY_DEBUG) {
      process.stderr.write((await fetch(`http://127.0.0.1:${httpPortOf(log())}/metrics`).then((r) => r.text(), () => "")).split("\n").filter((l) => /remote_write_request_duration_seconds_(sum|count)|remote_write_requests_total/.test(l)).join("\n") + "\n");
    }
    return { seconds, samplesPerSecond: REPLAY_SAMPLES / seconds, readySeconds: (ready - t0) / 1000 };
  } finally {
    await stop(child);
    await prom.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The HTTP port from the gateway's "edgegate started" log line. */
function httpPortOf(log: string): number {
  const m = /"edgegate started".*?"http":"[^"]*:(\d+)"|"http":"[^"]*:(\d+)".*?"edgegate started"/.exec(log);
  return Number(m?.[1] ?? m?.[2] ?? 0);
}

function vmagentArgs(httpPort: number, remotePort: number, queueDir: string): string[] {
  return [
    `-httpListenAddr=127.0.0.1:${httpPort}`,
    `-remoteWrite.url=http://127.0.0.1:${remotePort}/api/v1/write`,
    `-remoteWrite.tmpDataPath=${queueDir}`,
    "-loggerLevel=ERROR",
  ];
}

async function waitHttp(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    if (child.exitCode !== null) throw new Error(`vmagent exited (${child.exitCode}):\n${log()}`);
    await sleep(50);
  }
  throw new Error(`vmagent not ready at ${url}:\n${log()}`);
}

function folderBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? folderBytes(p) : statSync(p).size;
  }
  return n;
}

/** vmagent with an unreachable -remoteWrite.url, fed the same request bodies; stopped, its queue folder left on disk. */
async function fillVmagent(bodies: Uint8Array[], queueDir: string, remotePort: number): Promise<void> {
  const httpPort = await freePort();
  const child = spawn("vmagent", vmagentArgs(httpPort, remotePort, queueDir), { stdio: ["ignore", "pipe", "pipe"] });
  const log = capture(child);
  try {
    await waitHttp(`http://127.0.0.1:${httpPort}/health`, child, log);
    for (const body of bodies) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/write`, {
        method: "POST",
        headers: { "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0" },
        body: new Uint8Array(body),
      });
      if (res.status >= 300) throw new Error(`vmagent refused a request: ${res.status} ${await res.text()}`);
    }
    // Let its in-memory buffer reach the queue before the graceful stop persists the rest.
    await sleep(2000);
  } finally {
    await stop(child);
  }
  if (!existsSync(queueDir) || folderBytes(queueDir) === 0) throw new Error(`vmagent left nothing in ${queueDir}:\n${log()}`);
}

async function drainVmagent(template: string, work: string, remotePort: number): Promise<DrainRun> {
  const dir = mkdtempSync(join(work, "vmagent-"));
  const queueDir = join(dir, "queue");
  cpSync(template, queueDir, { recursive: true });
  const prom = await startPrometheus({ port: remotePort, outOfOrderWindow: OOO_WINDOW });
  const httpPort = await freePort();
  const t0 = performance.now();
  const child = spawn("vmagent", vmagentArgs(httpPort, remotePort, queueDir), { stdio: ["ignore", "pipe", "pipe"] });
  const log = capture(child);
  // Its ready time: /health polled every 10 ms, alongside the drain.
  let ready = Number.NaN;
  void (async () => {
    for (let i = 0; i < 1000 && Number.isNaN(ready) && child.exitCode === null; i++) {
      if (await fetch(`http://127.0.0.1:${httpPort}/health`).then((r) => r.ok, () => false)) ready = performance.now();
      else await sleep(10);
    }
  })();
  try {
    const done = await waitStored(prom, child, "vmagent", 600_000, log);
    const seconds = (done - t0) / 1000;
    return { seconds, samplesPerSecond: REPLAY_SAMPLES / seconds, readySeconds: Number.isNaN(ready) ? 0 : (Math.min(ready, done) - t0) / 1000 };
  } finally {
    await stop(child);
    await prom.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ReplayResult {
  edgegate: number;
  vmagent: number;
  /** Medians of samples/s timed from ready (start-up excluded) instead of from spawn. */
  edgegateFromReady: number;
  vmagentFromReady: number;
  edgegateRuns: DrainRun[];
  vmagentRuns: DrainRun[];
  requestBodies: number;
  bufferedBytes: { edgegate: number; vmagent: number };
}

/** `shards`: edgegate's queue_config.shards, in the outage and the drain (vmagent sends over -remoteWrite.queues, 2 × CPUs by default). */
export async function benchReplay(rounds = Number(process.env.REPLAY_ROUNDS ?? 3), shards = Number(process.env.REPLAY_SHARDS ?? 1)): Promise<ReplayResult> {
  if (!existsSync(join(REPO, "dist", "gateway", "main.js"))) throw new Error("replay bench runs dist/gateway/main.js: run `npm run build` first");
  requireTools({ prometheus: "prometheus", vmagent: "victoria-metrics" });
  const work = mkdtempSync(join(tmpdir(), "edgegate-replay-"));
  try {
    const template = join(work, "outbox-template.db");
    const bodies = fillOutbox(template, Date.now(), shards);
    const vmTemplate = join(work, "vmagent-queue-template");
    // One port for every vmagent run: its queue folder is keyed by the URL.
    const remotePort = await freePort();
    await fillVmagent(bodies, vmTemplate, remotePort);
    const edgegateRuns: DrainRun[] = [];
    const vmagentRuns: DrainRun[] = [];
    for (let r = 0; r < rounds; r++) {
      edgegateRuns.push(await drainEdgegate(template, work, shards));
      process.stderr.write(`replay round ${r + 1}: edgegate ${edgegateRuns[r]!.seconds.toFixed(1)} s (ready after ${edgegateRuns[r]!.readySeconds.toFixed(2)} s)\n`);
      vmagentRuns.push(await drainVmagent(vmTemplate, work, remotePort));
      process.stderr.write(`replay round ${r + 1}: vmagent ${vmagentRuns[r]!.seconds.toFixed(1)} s (ready after ${vmagentRuns[r]!.readySeconds.toFixed(2)} s)\n`);
    }
    return {
      edgegate: median(edgegateRuns.map((x) => x.samplesPerSecond)),
      vmagent: median(vmagentRuns.map((x) => x.samplesPerSecond)),
      edgegateFromReady: median(edgegateRuns.map((x) => REPLAY_SAMPLES / (x.seconds - x.readySeconds))),
      vmagentFromReady: median(vmagentRuns.map((x) => REPLAY_SAMPLES / (x.seconds - x.readySeconds))),
      edgegateRuns,
      vmagentRuns,
      requestBodies: bodies.length,
      bufferedBytes: { edgegate: statSync(template).size, vmagent: folderBytes(vmTemplate) },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
