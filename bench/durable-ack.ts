import { createServer, type Server } from "node:net";
import { performance } from "node:perf_hooks";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGateway } from "../gateway/app.js";
import { parseConfig } from "../gateway/config/load.js";
import { median } from "./stats.js";
import { BENCH_RULES_YAML } from "./config.js";

/**
 * Issue #11: ingest at QoS 1 with the ingest journal (PUBACK after the group
 * commit that holds the message) against the same gateway acknowledging
 * before durability (`ackBeforeDurable`, the baseline), in the same run.
 * Issue #12: the same against bare aedes at QoS 1 whose consumer only parses
 * JSON (same generator). CLIENTS devices each keep WINDOW messages in flight
 * (a telematics unit's send window); throughput = messages acknowledged per
 * second; latency = publish() to PUBACK per message (closed loop: it
 * includes queueing).
 *
 * Two fleet sizes: with few devices the in-flight total is small, so each
 * group commit holds few messages and the fsync is paid often; with many the
 * groups are large.
 *
 * The devices run on the gateway's event loop (one process): their CPU time
 * counts against both modes alike. MQTT.js leaves Nagle's algorithm on, as
 * many device stacks do: a device's burst after a window of PUBACKs reaches
 * the gateway as one message, the rest once the gateway's next segment
 * acknowledges it (here: the first message's PUBACK, one commit later).
 * Besides rate and latency each run reports the main thread's event-loop
 * utilisation and CPU per message in the timed part: below 1, the event loop
 * waited (for commits, or for a core on a shared machine).
 */
/**
 * `EDGEGATE_BENCH_FLEETS=8` (comma-separated) runs only those fleet sizes, and
 * `EDGEGATE_BENCH_MODES=ackBeforeDurable,journal` only those modes (for `node --cpu-prof` of one
 * mode, or a shorter paired run): ratios need the baseline among them. Default: all.
 */
export const FLEETS: readonly number[] = process.env["EDGEGATE_BENCH_FLEETS"]?.split(",").map(Number) ?? [8, 50];
const WINDOW = 20;
/**
 * `EDGEGATE_BENCH_NODELAY=1`: the devices turn Nagle's algorithm off (`setNoDelay`), a variant to
 * report beside the default run, not instead of it: it shows what the Nagle split costs the journal.
 */
export const DEVICES_NODELAY = process.env["EDGEGATE_BENCH_NODELAY"] === "1";

export interface AckRun {
  rate: number;
  p50: number;
  p99: number;
  /** Share of the timed part the main thread (gateway and devices) was busy: below 1, it waited (for the journal's commits, or for CPU time). */
  elu: number;
  /** Main-thread CPU per message in the timed part, µs (Linux: from /proc; 0 elsewhere). */
  cpuUs: number;
  /**
   * PUBACK latency of a probe device beside the fleet that keeps ONE message in flight (the next
   * one 1 ms after each PUBACK), median / p99, ms: what one message waits for under the fleet's
   * load, without the closed loop's queue of 20 per device (whose latency is in-flight ÷ rate).
   */
  probeP50: number;
  probeP99: number;
}

/** CPU time of this process's main thread (the event loop; not the journal's writer thread), ms; 10 ms resolution. */
function mainThreadCpuMs(): number {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** journal: the writer thread; journalMain: the same journal committed on the main thread (before the writer thread). */
type Mode = "journal" | "journalMain" | "ackBeforeDurable" | "bare";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function startBare(): Promise<{ port: number; close: () => Promise<void> }> {
  const aedes = await Aedes.createBroker();
  let n = 0;
  aedes.published = (packet, client, done) => {
    if (client) n += (JSON.parse(packet.payload.toString()) as unknown) === null ? 0 : 1;
    done();
  };
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
      if (n === 0) throw new Error("bare aedes consumed nothing");
    },
  };
}

async function startGateway(mode: "journal" | "journalMain" | "ackBeforeDurable"): Promise<{ port: number; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-bench-ack-"));
  const config = parseConfig(
    // No per-client mqtt.message_rate_limit (default 1,000/s): with 8 devices it would cap both modes at ~8,000 msg/s.
    `mqtt: {listen: "127.0.0.1:0", max_payload_bytes: 1048576, message_rate_limit: 0}
http: {listen: "127.0.0.1:0"}
storage: {path: "${join(dir, "outbox.db")}"}
${BENCH_RULES_YAML}`,
    "bench",
  );
  const gw = buildGateway(config, { shutdownSendTimeoutMs: 100, ackBeforeDurable: mode === "ackBeforeDurable", journalOnMainThread: mode === "journalMain" });
  await gw.start();
  return {
    port: Number(gw.mqttAddress().split(":").pop()),
    close: async () => {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running server of one mode with its devices connected. */
interface Fleet {
  mode: Mode;
  clients: mqtt.MqttClient[];
  probe: mqtt.MqttClient;
  close: () => Promise<void>;
}

async function startFleet(mode: Mode, clientsN: number): Promise<Fleet> {
  const server = mode === "bare" ? await startBare() : await startGateway(mode);
  const clients = await Promise.all(
    Array.from({ length: clientsN }, (_, i) => mqtt.connectAsync(`mqtt://127.0.0.1:${server.port}`, { protocolVersion: 4, clientId: `bench-ack-${i}`, reconnectPeriod: 0 })),
  );
  const probe = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.port}`, { protocolVersion: 4, clientId: "bench-ack-probe", reconnectPeriod: 0 });
  if (DEVICES_NODELAY) for (const c of [...clients, probe]) (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return {
    mode,
    clients,
    probe,
    close: async () => {
      await Promise.all([...clients, probe].map((c) => c.endAsync()));
      await server.close();
    },
  };
}

/**
 * One timed burst: every device keeps WINDOW QoS 1 messages in flight until `messages` are all
 * acknowledged. Latency = publish() to PUBACK; CPU and event-loop figures cover the burst only.
 */
async function burst(fleet: Fleet, messages: { topic: string; payload: string }[]): Promise<AckRun & { latencies: number[]; probe: number[] }> {
  const { clients } = fleet;
  const latencies: number[] = [];
  const probe: number[] = [];
  let next = 0;
  let running = true;
  // The probe: one message in flight, its own vehicle's messages (a series of its own).
  const probed = (async () => {
    for (let i = 0; running; i++) {
      const m = messages[i % messages.length]!;
      const sent = process.hrtime.bigint();
      await fleet.probe.publishAsync(m.topic.replace(/\/[^/]+\//, "/EGPROBE00000000001/"), m.payload, { qos: 1 });
      if (running) probe.push(Number(process.hrtime.bigint() - sent) / 1e6);
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const t0 = process.hrtime.bigint();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = mainThreadCpuMs();
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve, reject) => {
          let inFlight = 0;
          const pump = () => {
            while (inFlight < WINDOW && next < messages.length) {
              const m = messages[next++]!;
              inFlight++;
              const sent = process.hrtime.bigint();
              client.publish(m.topic, m.payload, { qos: 1 }, (err) => {
                if (err) return reject(err);
                latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
                inFlight--;
                pump();
              });
            }
            if (inFlight === 0 && next >= messages.length) resolve();
          };
          pump();
        }),
    ),
  );
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const cpuUs = ((mainThreadCpuMs() - cpu0) * 1000) / messages.length;
  running = false;
  await probed;
  latencies.sort((a, b) => a - b);
  probe.sort((a, b) => a - b);
  return { rate: messages.length / s, p50: percentile(latencies, 50), p99: percentile(latencies, 99), elu, cpuUs, latencies, probeP50: percentile(probe, 50), probeP99: percentile(probe, 99), probe };
}

/** The same messages from other vehicles (new series, as a fresh gateway would see them): the VIN in the topic gets the burst's number. */
function forBurst(messages: { topic: string; payload: string }[], k: number): { topic: string; payload: string }[] {
  const tag = `EGB${String(k).padStart(2, "0")}`;
  return messages.map((m) => ({ topic: m.topic.replace("EGWSM", tag), payload: m.payload }));
}

/** One fresh server of one mode, warm-up burst, one timed burst (profiling: `node --cpu-prof`). */
export async function runOnce(messages: { topic: string; payload: string }[], mode: Mode, clients: number): Promise<AckRun> {
  const fleet = await startFleet(mode, clients);
  try {
    await burst(fleet, forBurst(messages.slice(0, 2000), 99));
    const { latencies: _, probe: __, ...r } = await burst(fleet, messages);
    return r;
  } finally {
    await fleet.close();
  }
}

export interface FleetResult {
  clients: number;
  journal: AckRun;
  journalMain: AckRun;
  baseline: AckRun;
  bare: AckRun;
  /** Median over the repetitions of journal ÷ baseline in the same repetition (paired: adjacent bursts). */
  ratio: number;
  /** The same for the journal committed on the main thread. */
  ratioMain: number;
  reps: number;
}

/** Rate, busy share and CPU: medians over the bursts; latency percentiles over all bursts' messages. */
function pick(xs: (AckRun & { latencies: number[]; probe: number[] })[]): AckRun {
  // A mode left out (EDGEGATE_BENCH_MODES): its figures are NaN.
  if (xs.length === 0) return { rate: NaN, p50: NaN, p99: NaN, elu: NaN, cpuUs: NaN, probeP50: NaN, probeP99: NaN };
  const all = xs.flatMap((x) => x.latencies).sort((a, b) => a - b);
  const probe = xs.flatMap((x) => x.probe).sort((a, b) => a - b);
  return {
    rate: median(xs.map((x) => x.rate)),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    elu: median(xs.map((x) => x.elu)),
    cpuUs: median(xs.map((x) => x.cpuUs)),
    probeP50: percentile(probe, 50),
    probeP99: percentile(probe, 99),
  };
}

const ALL_MODES: readonly Mode[] = ["ackBeforeDurable", "journal", "journalMain", "bare"];
const MODES: readonly Mode[] = process.env["EDGEGATE_BENCH_MODES"]?.split(",").map((m) => {
  if (!ALL_MODES.includes(m as Mode)) throw new Error(`EDGEGATE_BENCH_MODES: unknown mode ${m} (${ALL_MODES.join(", ")})`);
  return m as Mode;
}) ?? ALL_MODES;

/**
 * Per fleet size, one server of each mode runs for the whole section with its
 * devices connected; the modes take turns with bursts of `messages` (new
 * vehicles each burst), so a repetition's bursts run seconds apart and the
 * ratios are paired: on a shared machine whose load drifts from second to
 * second this matters more than anything else (separate runs of a few
 * seconds each, with start-up and a pause between, saw the baseline alone
 * vary 2×). Idle servers only tick between their turns.
 */
export async function benchDurableAck(messages: { topic: string; payload: string }[], reps = 7): Promise<FleetResult[]> {
  const out: FleetResult[] = [];
  for (const clients of FLEETS) {
    const fleets: Fleet[] = [];
    try {
      for (const mode of MODES) fleets.push(await startFleet(mode, clients));
      // Warm-up of every mode (JIT; the journal's writer thread starts with the first group).
      for (const f of fleets) await burst(f, forBurst(messages.slice(0, 4000), 98));
      const runs = new Map<Mode, (AckRun & { latencies: number[]; probe: number[] })[]>(ALL_MODES.map((m) => [m, []]));
      for (let i = 0; i < reps; i++) {
        const batch = forBurst(messages, i);
        // Every other repetition in reverse order: no mode always follows the same one.
        for (const f of i % 2 === 0 ? fleets : [...fleets].reverse()) runs.get(f.mode)!.push(await burst(f, batch));
      }
      const b = runs.get("ackBeforeDurable")!;
      const j = runs.get("journal")!;
      const jm = runs.get("journalMain")!;
      out.push({
        clients,
        journal: pick(j),
        journalMain: pick(jm),
        baseline: pick(b),
        bare: pick(runs.get("bare")!),
        ratio: j.length > 0 && b.length > 0 ? median(j.map((x, i) => x.rate / b[i]!.rate)) : NaN,
        ratioMain: jm.length > 0 && b.length > 0 ? median(jm.map((x, i) => x.rate / b[i]!.rate)) : NaN,
        reps,
      });
    } finally {
      for (const f of fleets) await f.close();
    }
  }
  return out;
}
