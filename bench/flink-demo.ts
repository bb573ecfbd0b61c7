/**
 * Issue #12, flink-demo: the Flink connected-vehicles demo's event stream
 * through the shipped deploy/examples/flink-demo.yaml from 10,000 connected
 * vehicles, as a user runs it: the gateway is its own process
 * (`node dist/gateway/main.js --config …`, ports 0, temporary storage), the
 * generator is device-sim in separate processes (`--workers`), the
 * Remote-Write receiver a local HTTP server answering 204.
 *
 * For 10k / 50k / 100k events/s × (one event per message, `flink-batch` of 10
 * events per message) it reports: the rate device-sim achieved (events over
 * its real elapsed time, and its final schedule lag), the rate the gateway
 * ingested, too_late and other drops (from /metrics), the gateway's peak
 * VmRSS (sampled from /proc every 200 ms during the point) and CPU (utime +
 * stime over the point, in % of one core), and the event-to-flush lag: for
 * each window a sample reached the receiver for, arrival time − window start,
 * which bounds the lag of every event in that window (its p99 over windows;
 * target ≤ window + allowed lateness + 1 s = 11 s).
 *
 * One gateway serves all points (in increasing rate order) so the run stays
 * near 3 minutes; the figures of a point are deltas over that point.
 * Also: heap and RSS per idle connection (10,000, after GC) of the gateway
 * against bare aedes, each in its own process (bench/conn-memory.ts).
 * Needs `npm run build` (dist/). `FLINK_BENCH_POINTS=100000:1,100000:10`
 * runs only those points; `FLINK_BENCH_SECONDS` sets each point's duration
 * (default 12); `FLINK_BENCH_NODE_OPTIONS` passes NODE_OPTIONS to the gateway
 * (e.g. the systemd unit's `--max-semi-space-size=1`); `EDGEGATE_BENCH_GATEWAY_MAIN`
 * runs another build's gateway (device-sim stays this tree's).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeWriteRequest, snappyDecompress } from "../gateway/remote-write/codec.js";
import { fmt, type Row } from "./stats.js";

const REPO = join(import.meta.dirname, "..");
const VEHICLES = 10_000;
const WINDOW_MS = 5_000;
const LATENESS_MS = 5_000;
const WORKERS = 2;
/** EDGEGATE_BENCH_GATEWAY_MAIN: another build of the gateway (e.g. an older commit's dist/) to compare. */
const MAIN = process.env.EDGEGATE_BENCH_GATEWAY_MAIN ?? join(REPO, "dist", "gateway", "main.js");

export interface FlinkPoint {
  rate: number;
  eventsPerMessage: number;
  /** Events device-sim produced, over its real elapsed time. */
  simRate: number;
  simLagMs: number;
  /** Mean events per MQTT message actually sent. */
  meanBatch: number;
  /** Samples the gateway counted in (edgegate_ingest_samples_total), over the point's duration. */
  gatewayRate: number;
  tooLate: number;
  otherDrops: number;
  peakRssMb: number;
  cpuPct: number;
}

interface Receiver {
  url: string;
  /** Per window start (ms), when the first sample for it arrived. */
  arrivals: Map<number, number>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const arrivals = new Map<number, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      try {
        for (const ts of decodeWriteRequest(snappyDecompress(Buffer.concat(chunks), 64 << 20))) {
          for (const s of ts.samples) {
            const start = s.timestamp - WINDOW_MS; // aggregates are stamped at their window's end
            if (!arrivals.has(start)) arrivals.set(start, at);
          }
        }
        res.writeHead(204).end();
      } catch (err) {
        res.writeHead(400).end((err as Error).message);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`,
    arrivals,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

interface Gateway {
  child: ChildProcess;
  mqttUrl: string;
  httpUrl: string;
  stop(): Promise<void>;
}

async function startGateway(dir: string, receiverUrl: string): Promise<Gateway> {
  // The demo's reference data for all 10,000 vehicles (the shipped file has 1,000): model = Type-<A + index mod 7>.
  const csv = ["vehicleId,model", ...Array.from({ length: VEHICLES }, (_, i) => `V${String(i).padStart(10, "0")},Type-${String.fromCharCode(65 + (i % 7))}`)].join("\n");
  writeFileSync(join(dir, "vehicles.csv"), `${csv}\n`);
  const shipped = readFileSync(join(REPO, "deploy", "examples", "flink-demo.yaml"), "utf8");
  const yaml = shipped
    .replace('listen: "0.0.0.0:1883"', 'listen: "127.0.0.1:0"')
    .replace('listen: "0.0.0.0:9480"', 'listen: "127.0.0.1:0"')
    .replace('path: "./data/flink-demo.db"', `path: "${join(dir, "outbox.db")}"`)
    .replace("file: vehicles.csv", `file: ${join(dir, "vehicles.csv")}`)
    .replace('url: "http://127.0.0.1:9090/api/v1/write"', `url: "${receiverUrl}"`);
  if (!yaml.includes(receiverUrl) || !yaml.includes("127.0.0.1:0")) throw new Error("flink-demo.yaml changed: the bench cannot rewrite its addresses");
  const cfg = join(dir, "flink-demo.yaml");
  writeFileSync(cfg, yaml);
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // the bench runs under tsx; the gateway runs from dist/ as in production
  if (process.env.FLINK_BENCH_NODE_OPTIONS) env.NODE_OPTIONS = process.env.FLINK_BENCH_NODE_OPTIONS;
  const child = spawn(process.execPath, [MAIN, "--config", cfg], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  const started = await new Promise<{ mqtt: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 30 s:\n${out}`)), 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const line of out.split("\n")) {
        if (!line.includes('"edgegate started"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { mqtt: string; http: string });
        return;
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${out}`));
    });
  });
  // Keep draining its log so a full pipe never stalls it.
  child.stdout!.removeAllListeners("data");
  child.stdout!.resume();
  const port = (a: string): string => a.slice(a.lastIndexOf(":") + 1);
  return {
    child,
    mqttUrl: `mqtt://127.0.0.1:${port(started.mqtt)}`,
    httpUrl: `http://127.0.0.1:${port(started.http)}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function vmRssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14 and 15; USER_HZ is 100 on Linux
}

async function counters(httpUrl: string): Promise<{ samples: number; tooLate: number; otherDrops: number }> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let samples = 0;
  let tooLate = 0;
  let otherDrops = 0;
  for (const line of text.split("\n")) {
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (line.startsWith("edgegate_ingest_samples_total ")) samples = v;
    else if (line.startsWith('edgegate_samples_dropped_total{reason="too_late"}')) tooLate = v;
    // The demo forwards only the two aggregates: other event types are "unmatched" by design, not lost.
    else if (line.startsWith("edgegate_samples_dropped_total{") && !line.includes('reason="unmatched"')) otherDrops += v;
    else if (line.startsWith("edgegate_ingest_messages_dropped_total{")) otherDrops += v;
  }
  return { samples, tooLate, otherDrops };
}

/** device-sim from dist/ in its own processes; resolves with its summary figures. */
function runSim(mqttUrl: string, rate: number, eventsPerMessage: number, seconds: number): Promise<{ readings: number; messages: number; elapsedMs: number; lagMs: number }> {
    // Batched: a unit also sends when its oldest event is 4 s old, so at 1 event/s per vehicle (10k events/s over 10,000
  // vehicles) a batch never spans more than allowed_lateness (5 s): at 100k events/s the batches are full (10 in ~1 s).
  const mode = eventsPerMessage === 1 ? ["--mode", "flink-events"] : ["--mode", "flink-batch", "--batch-size", String(eventsPerMessage), "--batch-max-age", "4s"];
  const args = [join(REPO, "dist", "device-sim", "cli.js"), "--url", mqttUrl, "--vehicles", String(VEHICLES), ...mode, "--rate", String(rate), "--duration", `${seconds}s`, "--qos", "0", "--workers", String(WORKERS), "--quiet", "--seed", "12", "--connect-timeout", "60s"];
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 120) * 1000);
    child.on("close", (code) => {
      clearTimeout(timer);
      const m = /readings (\d+).*lag (\d+)ms/.exec(out);
      const sent = /messages sent (\d+)/.exec(out);
      const e = /elapsed ([\d.]+)s/.exec(out);
      if (code !== 0 || !m || !e || !sent) return reject(new Error(`device-sim exited with ${code}:\n${out}\n${err}`));
      resolve({ readings: Number(m[1]), messages: Number(sent[1]), lagMs: Number(m[2]), elapsedMs: Number(e[1]) * 1000 });
    });
  });
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

export async function benchFlinkDemo(): Promise<{ points: FlinkPoint[]; lagP99Ms: number; lagMaxMs: number; windows: number; lagsMs: number[] }> {
  const seconds = Number(process.env.FLINK_BENCH_SECONDS ?? 12);
  const points = (process.env.FLINK_BENCH_POINTS ?? "10000:1,10000:10,50000:1,50000:10,100000:1,100000:10").split(",").map((p) => {
    const [r, e] = p.split(":").map(Number);
    return { rate: r!, eventsPerMessage: e ?? 1 };
  });
  const dir = mkdtempSync(join(tmpdir(), "edgegate-bench-flink-"));
  const receiver = await startReceiver();
  const gw = await startGateway(dir, receiver.url);
  const pid = gw.child.pid!;
  const result: FlinkPoint[] = [];
  const firstWindow = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
  try {
    for (const p of points) {
      let peak = vmRssMb(pid);
      const sampler = setInterval(() => (peak = Math.max(peak, vmRssMb(pid))), 200);
      const c0 = await counters(gw.httpUrl);
      const cpu0 = cpuMs(pid);
      const t0 = performance.now();
      let sim: Awaited<ReturnType<typeof runSim>>;
      try {
        sim = await runSim(gw.mqttUrl, p.rate, p.eventsPerMessage, seconds);
      } catch (err) {
        // A point that could not run (e.g. 10,000 clients not connected in time on a loaded box) is reported, not fatal.
        clearInterval(sampler);
        process.stderr.write(`flink-demo ${p.rate}:${p.eventsPerMessage} failed: ${(err as Error).message.split("\n").slice(0, 4).join(" ")}\n`);
        result.push({ ...p, simRate: NaN, simLagMs: NaN, meanBatch: NaN, gatewayRate: NaN, tooLate: NaN, otherDrops: NaN, peakRssMb: peak, cpuPct: NaN });
        continue;
      }
      // Let the gateway take what is in its sockets.
      await new Promise((r) => setTimeout(r, 500));
      const wall = performance.now() - t0;
      const c1 = await counters(gw.httpUrl);
      const cpu = cpuMs(pid) - cpu0;
      clearInterval(sampler);
      peak = Math.max(peak, vmRssMb(pid));
      result.push({
        ...p,
        simRate: (sim.readings * 1000) / sim.elapsedMs,
        simLagMs: sim.lagMs,
        meanBatch: sim.readings / Math.max(1, sim.messages),
        gatewayRate: ((c1.samples - c0.samples) * 1000) / sim.elapsedMs,
        tooLate: c1.tooLate - c0.tooLate,
        otherDrops: c1.otherDrops - c0.otherDrops,
        peakRssMb: peak,
        // Over the whole point, connecting 10,000 clients included.
        cpuPct: (cpu * 100) / wall,
      });
      process.stderr.write(`flink-demo ${JSON.stringify(result[result.length - 1])}\n`);
    }
    // The last windows close allowed_lateness after they end, then flush and send.
    await new Promise((r) => setTimeout(r, WINDOW_MS + LATENESS_MS + 2_000));
  } finally {
    await gw.stop();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const lags = [...receiver.arrivals].filter(([start]) => start >= firstWindow).sort(([a], [b]) => a - b).map(([start, at]) => at - start);
  // Per window, in window order: the p99 at a handful of windows is the worst one, this says which.
  process.stderr.write(`flink-demo window lags (s): ${lags.map((l) => (l / 1000).toFixed(2)).join(", ")}\n`);
  return { points: result, lagP99Ms: lags.length ? percentile(lags, 99) : NaN, lagMaxMs: lags.length ? Math.max(...lags) : NaN, windows: lags.length, lagsMs: lags };
}

interface ConnMemory {
  rss_mb: number;
  heap_used_mb: number;
  rss_per_conn: number;
  heap_used_per_conn: number;
}

/** bench/conn-memory.ts in its own process: memory per idle connection, the gateway or bare aedes. */
function connMemory(kind: "gateway" | "aedes", count: number): Promise<ConnMemory> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", join(REPO, "bench", "conn-memory.ts"), kind, String(count)], { stdio: ["ignore", "pipe", "inherit"], env });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop()!) as ConnMemory) : reject(new Error(`conn-memory ${kind} exited with ${code}: ${out}`))));
  });
}

export async function flinkDemoSection(): Promise<{ rows: Row[]; figures: Record<string, number> }> {
  // Memory per idle connection first (quiet machine state matters less for memory than for rates).
  const gwMem = await connMemory("gateway", VEHICLES);
  const aedesMem = await connMemory("aedes", VEHICLES);
  const r = await benchFlinkDemo();
  const rows: Row[] = [
    {
      bench: "memory per idle connection (10k, after GC)",
      figure: `gateway heap ${fmt(gwMem.heap_used_per_conn)} B, RSS ${fmt(gwMem.rss_per_conn)} B`,
      baseline: `bare aedes heap ${fmt(aedesMem.heap_used_per_conn)} B, RSS ${fmt(aedesMem.rss_per_conn)} B`,
      ratio: `${fmt(gwMem.heap_used_per_conn / aedesMem.heap_used_per_conn, 2)}× heap`,
    },
  ];
  rows.push(...r.points.map((p) => ({
    bench: `flink-demo ${fmt(p.rate / 1000)}k ev/s, ${p.eventsPerMessage} ev/msg (sent ${fmt(p.meanBatch, 1)})`,
    figure: `gw ${fmt(p.gatewayRate)} ev/s, too_late ${fmt(p.tooLate)}, other drops ${fmt(p.otherDrops)}, RSS ${fmt(p.peakRssMb)} MB, CPU ${fmt(p.cpuPct)} %`,
    baseline: `device-sim ${fmt(p.simRate)} ev/s (lag ${fmt(p.simLagMs)} ms)`,
    ratio: `${fmt(p.gatewayRate / p.rate, 2)}× target`,
  })));
  rows.push({
    bench: "flink-demo event-to-flush lag (≤ 11 s)",
    figure: `p99 ${fmt(r.lagP99Ms / 1000, 1)} s, max ${fmt(r.lagMaxMs / 1000, 1)} s over ${r.windows} windows`,
    baseline: "window + allowed lateness = 10 s",
    ratio: `${fmt(r.lagP99Ms / (WINDOW_MS + LATENESS_MS), 2)}×`,
  });
  const figures: Record<string, number> = {
    event_to_flush_lag_p99_ms: r.lagP99Ms,
    event_to_flush_lag_max_ms: r.lagMaxMs,
    conn_heap_bytes_gateway: gwMem.heap_used_per_conn,
    conn_rss_bytes_gateway: gwMem.rss_per_conn,
    conn_heap_bytes_bare_aedes: aedesMem.heap_used_per_conn,
    conn_rss_bytes_bare_aedes: aedesMem.rss_per_conn,
  };
  for (const p of r.points) {
    const k = `${p.rate / 1000}k_${p.eventsPerMessage}epm`;
    figures[`${k}_gateway_events_per_s`] = p.gatewayRate;
    figures[`${k}_sim_events_per_s`] = p.simRate;
    figures[`${k}_sim_lag_ms`] = p.simLagMs;
    figures[`${k}_mean_events_per_message`] = p.meanBatch;
    figures[`${k}_too_late`] = p.tooLate;
    figures[`${k}_other_drops`] = p.otherDrops;
    figures[`${k}_peak_rss_mb`] = p.peakRssMb;
    figures[`${k}_cpu_pct`] = p.cpuPct;
  }
  return { rows, figures };
}
