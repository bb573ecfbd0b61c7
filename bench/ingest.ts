/**
 * `npm run bench -- ingest`: MQTT ingest of the production process, against
 * bare aedes, each in its own process, fed by publishers in other processes.
 *
 * - gateway: `node dist/gateway/main.js` with the built-in default config
 *   (default topic rule, default roll-up, default limits, durable ingest
 *   journal), its Remote-Write target a local HTTP receiver that answers 204;
 *   only mqtt.message_rate_limit is 0 (two publishers carry the whole load).
 * - baseline: bench/ingest-bare.ts: bare aedes + JSON.parse in its own process.
 * - generators: QoS 0, two `mosquitto_pub -l -q 0` (one vehicle topic each);
 *   QoS 1, two bench/ingest-pub.ts processes (MQTT.js, counting PUBACKs, many
 *   vehicles over several connections each).
 *
 * A run's rate = messages through / time from the generators' start to the
 * last one counted (the gateway: edgegate_ingest_samples_total reaching
 * messages × 10, i.e. decoded and at the pipeline's entry; the baseline: its
 * parse count). CPU = utime+stime of the broker process over the same span,
 * from /proc/<pid>/stat, per 100k samples (10 per message). Gateway and
 * baseline runs are interleaved; the figures are medians of 3.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_CONFIG_YAML } from "../gateway/config/defaults.js";
import { SIGNALS_PER_MESSAGE, telemetry, vin } from "./ingest-payload.js";
import { median } from "./stats.js";
import { requireTools } from "./tools.js";

const REPO = join(import.meta.dirname, "..");
/** EDGEGATE_BENCH_GATEWAY_MAIN: another build of the gateway (e.g. an older commit's dist/) to compare. */
const MAIN = process.env.EDGEGATE_BENCH_GATEWAY_MAIN ?? join(REPO, "dist", "gateway", "main.js");
const DEVICES_PER_TOPIC = 500;
const TICK_MS = 1000 / 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

export interface IngestRun {
  msgsPerS: number;
  /** Broker process CPU (user+system) per 100,000 samples, ms. */
  cpuMsPer100kSamples: number;
  /** The publisher processes' CPU over the run, per 100,000 samples, ms (what the generators take of the same 2 cores). */
  publisherCpuMsPer100kSamples: number;
  /** Messages sent but never counted (QoS 0 may lose; QoS 1 must not). */
  lost: number;
  /** Samples the gateway dropped in the run (any reason; 0 for the baseline): a check that the run measured the pipeline, not its drop path. */
  droppedSamples: number;
}

interface Target {
  pid: number;
  mqttPort: number;
  /** Messages fully handled so far. */
  count(): Promise<number>;
  dropped(): Promise<number>;
  stop(): Promise<void>;
}

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * TICK_MS; // fields 14 (utime) and 15 (stime)
}

function startProcess(args: string[], ready: (out: string) => RegExpExecArray | null): Promise<{ child: ChildProcess; m: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { env: { ...process.env, NODE_OPTIONS: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${args.join(" ")}: not ready in 30 s:\n${out}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, m });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited (${code}):\n${out}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(t);
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

async function startGateway(dir: string, receiverPort: number): Promise<Target> {
  if (!existsSync(MAIN)) throw new Error("dist/gateway/main.js missing: run `npm run build` first");
  let yaml = DEFAULT_CONFIG_YAML;
  for (const [from, to] of [
    // Two publishers carry the whole load: the per-client message_rate_limit (1000/s) would measure itself.
    ['mqtt:\n  listen: "127.0.0.1:1883"', 'mqtt:\n  message_rate_limit: 0\n  listen: "127.0.0.1:0"'],
    ['listen: "127.0.0.1:9480"', 'listen: "127.0.0.1:0"'],
    ["./data/edgegate.db", join(dir, "edgegate.db")],
    ["127.0.0.1:9090", `127.0.0.1:${receiverPort}`],
  ]) {
    if (!yaml.includes(from!)) throw new Error(`the default config no longer holds ${JSON.stringify(from)}: update bench/ingest.ts`);
    yaml = yaml.replace(from!, to!);
  }
  const cfg = join(dir, "edgegate.yaml");
  writeFileSync(cfg, yaml);
  const { child, m } = await startProcess([MAIN, "--config", cfg, "--log.format=json"], (o) => /"mqtt":"[^"]*:(\d+)","http":"([^"]+)".*"edgegate started"/.exec(o));
  const metricsUrl = `http://${m[2]}/metrics`;
  return {
    pid: child.pid!,
    mqttPort: Number(m[1]),
    count: async () => metric(await (await fetch(metricsUrl)).text(), "edgegate_ingest_samples_total") / SIGNALS_PER_MESSAGE,
    dropped: async () => {
      let n = 0;
      for (const m of (await (await fetch(metricsUrl)).text()).matchAll(/^edgegate_samples_dropped_total\{[^}]*\} (\S+)$/gm)) n += Number(m[1]);
      return n;
    },
    stop: () => stopChild(child),
  };
}

async function startBare(): Promise<Target> {
  const { child, m } = await startProcess(["--import", "tsx", join(import.meta.dirname, "ingest-bare.ts")], (o) => /\{"mqtt":(\d+),"http":(\d+)\}/.exec(o));
  const url = `http://127.0.0.1:${m[2]}/`;
  return {
    pid: child.pid!,
    mqttPort: Number(m[1]),
    count: async () => Number((await (await fetch(url)).text()).split(" ")[0]),
    dropped: async () => 0,
    stop: () => stopChild(child),
  };
}

/** Starts the generators (resolves when they are connected and ready to go) and returns a function that starts them. */
type Generator = (port: number, total: number, dir: string) => Promise<{ go: () => void; done: Promise<void>; kill: () => void; pids: () => number[] }>;

/**
 * QoS 0: two `mosquitto_pub -l -q 0`, each reading its half of the messages
 * (one line each) from a file. One topic per publisher: the `model` label
 * field cycles through 500 values (500 devices, 5,000 input series per
 * publisher); messages carry no timestamp (stamped on arrival).
 */
const mosquittoQos0: Generator = async (port, total, dir) => {
  const files = [0, 1].map((p) => {
    const n = Math.floor(total / 2) + (p < total % 2 ? 1 : 0);
    const lines: string[] = [];
    for (let k = 0; k < n; k++) lines.push(telemetry(p, k, undefined, `ev-van-${k % DEVICES_PER_TOPIC}`));
    const file = join(dir, `pub${p}.txt`);
    writeFileSync(file, lines.join("\n") + "\n");
    return file;
  });
  let children: ChildProcess[] = [];
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
  return {
    go: () => {
      let running = files.length;
      children = files.map((file, p) => {
        const fd = openSync(file, "r");
        const child = spawn("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-q", "0", "-i", `ingest-bench-${p}`, "-t", `vehicles/${vin(p)}/telemetry`, "-l"], { stdio: [fd, "ignore", "pipe"] });
        closeSync(fd);
        let err = "";
        child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
        child.once("exit", (code) => {
          if (code !== 0) rejectDone(new Error(`mosquitto_pub exited ${code}: ${err}`));
          else if (--running === 0) resolveDone();
        });
        return child;
      });
    },
    done,
    kill: () => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")),
    pids: () => children.map((c) => c.pid!),
  };
};

/** QoS 1 (or 0): two MQTT.js publisher processes, `connections` clients each over 1,000 vehicles, waiting for every PUBACK. */
function mqttJs(qos: 0 | 1, connections: number): Generator {
  return async (port, total) => {
    const children = await Promise.all(
      [0, 1].map(async (p) => {
        const n = Math.floor(total / 2) + (p < total % 2 ? 1 : 0);
        const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "ingest-pub.ts"), String(port), String(qos), String(n), String(p * 1000), "1000", String(connections)], {
          env: { ...process.env, NODE_OPTIONS: "" },
          stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
        const exit = new Promise<void>((res, rej) =>
          child.once("exit", (code) => (code === 0 ? res() : rej(new Error(`ingest-pub exited ${code}: ${out}`)))),
        );
        await new Promise<void>((res, rej) => {
          child.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            if (out.includes("ready")) res();
          });
          exit.then(() => rej(new Error(`ingest-pub ended before ready: ${out}`)), rej);
        });
        return { child, exit };
      }),
    );
    return {
      go: () => children.forEach((c) => c.child.stdin!.write("go\n")),
      done: Promise.all(children.map((c) => c.exit)).then(() => undefined),
      kill: () => children.forEach((c) => c.child.exitCode === null && c.child.kill("SIGKILL")),
      pids: () => children.map((c) => c.child.pid!),
    };
  };
}

async function runOnce(target: Target, generator: Generator, total: number, dir: string): Promise<IngestRun> {
  const gen = await generator(target.mqttPort, total, dir);
  const base = await target.count();
  let genError: Error | null = null;
  let genDone = false;
  gen.done.then(
    () => (genDone = true),
    (e: Error) => ((genError = e), (genDone = true)),
  );
  const cpu0 = cpuMs(target.pid);
  const t0 = performance.now();
  gen.go();
  // A publisher's CPU as last read (its /proc entry goes when it exits: read every poll, at most one poll's worth short).
  const pubCpu = new Map<number, number>();
  const readPublishers = () => {
    for (const pid of gen.pids()) {
      try {
        pubCpu.set(pid, cpuMs(pid));
      } catch {
        // exited
      }
    }
  };
  let count = 0;
  let t1 = t0;
  let cpu1 = cpu0;
  let lastProgress = t0;
  const deadline = t0 + 300_000;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      readPublishers();
      const now = performance.now();
      const cpuNow = cpuMs(target.pid);
      const c = (await target.count()) - base;
      if (c > count) {
        count = c;
        t1 = now;
        cpu1 = cpuNow;
        lastProgress = now;
      }
      if (count >= total) break;
      if (genError) throw genError;
      // Nothing more arrives 3 s after the publishers ended: the rest is lost.
      if (genDone && now - lastProgress > 3000) break;
      if (now > deadline) throw new Error(`ingest run did not finish in 300 s (${count} of ${total})`);
    }
  } finally {
    gen.kill();
  }
  const s = (t1 - t0) / 1000;
  const per100k = (count * SIGNALS_PER_MESSAGE) / 100_000;
  let publishers = 0;
  for (const v of pubCpu.values()) publishers += v;
  return {
    msgsPerS: count / s,
    cpuMsPer100kSamples: (cpu1 - cpu0) / per100k,
    publisherCpuMsPer100kSamples: publishers / per100k,
    lost: total - count,
    droppedSamples: await target.dropped(),
  };
}

export interface IngestFigures {
  gateway: IngestRun;
  bare: IngestRun;
}

function medianRun(runs: IngestRun[]): IngestRun {
  return {
    msgsPerS: median(runs.map((r) => r.msgsPerS)),
    cpuMsPer100kSamples: median(runs.map((r) => r.cpuMsPer100kSamples)),
    publisherCpuMsPer100kSamples: median(runs.map((r) => r.publisherCpuMsPer100kSamples)),
    lost: Math.max(...runs.map((r) => r.lost)),
    droppedSamples: Math.max(...runs.map((r) => r.droppedSamples)),
  };
}

/** Interleaved bare/gateway runs (medians of `reps`) at one QoS. */
export async function benchIngest(qos: 0 | 1, total: number, reps = 3): Promise<IngestFigures> {
  if (qos === 0) requireTools({ mosquitto_pub: "mosquitto-clients" });
  let requests = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const receiverPort = (receiver.address() as { port: number }).port;
  const generator = qos === 0 ? mosquittoQos0 : mqttJs(1, 10);
  const g: IngestRun[] = [];
  const b: IngestRun[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      for (const kind of ["bare", "gateway"] as const) {
        const dir = mkdtempSync(join(tmpdir(), "edgegate-bench-ingest-"));
        let target: Target | null = null;
        try {
          target = kind === "bare" ? await startBare() : await startGateway(dir, receiverPort);
          const run = await runOnce(target, generator, total, dir);
          (kind === "bare" ? b : g).push(run);
        } finally {
          await target?.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await new Promise<void>((r) => receiver.close(() => r()));
  }
  return { gateway: medianRun(g), bare: medianRun(b) };
}

/**
 * What the box's CPU allows, whatever the threading: the generators and the broker share `cores`,
 * so no design that costs the gateway's measured CPU per message can pass `cores` / (its CPU +
 * the publishers' CPU per message). `ceilingRatio` is that rate against the bare broker's
 * measured rate; `neededCpuMsPer100k` is the gateway CPU per 100k samples at which the target
 * ratio would just fit in the cores (the publishers' CPU as measured with the bare broker).
 */
export function cpuCeiling(f: IngestFigures, target: number, cores = 2): { ceilingRatio: number; neededCpuMsPer100k: number } {
  const per100kPerS = (msgsPerS: number) => (msgsPerS * SIGNALS_PER_MESSAGE) / 100_000;
  const pub = f.bare.publisherCpuMsPer100kSamples;
  const ceiling = (cores * 1000) / (f.gateway.cpuMsPer100kSamples + f.gateway.publisherCpuMsPer100kSamples) / per100kPerS(1);
  const needed = (cores * 1000) / per100kPerS(target * f.bare.msgsPerS) - pub;
  return { ceilingRatio: ceiling / f.bare.msgsPerS, neededCpuMsPer100k: needed };
}
