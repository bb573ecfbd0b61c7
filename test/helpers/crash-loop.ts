import { Qos1Publisher } from "./qos1-publisher.js";
import type { PrometheusHandle } from "./prometheus.js";
import { startGatewayProcess, type GatewayProcess } from "./gateway-process.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
import { sleep, waitFor } from "./wait.js";
import { createRng } from "../../device-sim/rng.js";

/**
 * The crash loop of issue #11: a QoS 1 publisher (MQTT.js, clean: false)
 * streams known values while the real gateway (`node dist/gateway/main.js`)
 * is SIGKILLed at random instants and restarted; MQTT.js re-sends whatever
 * was not acknowledged, as a telematics unit does. The caller then checks
 * Prometheus against `acked`: what the acknowledged messages imply.
 */

export const INTERVAL_MS = 5_000;

export interface Message {
  vin: string;
  fleet: string;
  ts: number;
  speed: number;
  odo: number;
}

export interface CrashLoopResult {
  sent: number;
  acked: Message[];
  kills: number;
  /** Times the gateway killed itself at a test-only crash point and was restarted. */
  selfKills: number;
  /** Milliseconds from each SIGKILL until the restarted gateway logged "edgegate started". */
  restartMs: number[];
  gateway: GatewayProcess;
  mqttProxy: TcpProxy;
  rwProxy: TcpProxy;
}

export interface CrashLoopOptions {
  dir: string;
  prom: PrometheusHandle;
  durationMs: number;
  kills: number;
  seed: number;
  /** Called at each second of the run (index), e.g. to take the uplink down or restart Prometheus. */
  onSecond?: (second: number, rw: TcpProxy) => Promise<void>;
  /** Environment of the FIRST gateway process (e.g. a test-only crash point); restarts run without it. */
  firstEnv?: Record<string, string>;
  /** Environment of the gateway started after each scheduled SIGKILL (e.g. the crash point during_replay). */
  envAfterKill?: Record<string, string>;
  /** external_labels, to tell runs apart in one Prometheus. */
  run?: string;
}

const VINS = [
  ["V1", "north"],
  ["V2", "north"],
  ["V3", "south"],
  ["V4", "south"],
] as const;

export function crashLoopConfig(rwUrl: string, run = "crash-loop"): string {
  return `mqtt: {listen: "127.0.0.1:0"}
external_labels: {run: "${run}"}
http: {listen: "127.0.0.1:0"}
storage: {path: "./outbox.db", flush_interval: 200ms, checkpoint_interval: 2s}
topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet]
aggregation:
  - match: vehicle_speed_kmh
    interval: 5s
    by: [fleet]
    outputs: [count_samples, sum_samples, count_series]
    allowed_lateness: 2s
forward_unmatched: true
remote_write:
  - url: "${rwUrl}"
    queue_config: {max_samples_per_send: 500}
`;
}

export async function runCrashLoop(o: CrashLoopOptions): Promise<CrashLoopResult> {
  const rwProxy = await startTcpProxy(Number(new URL(o.prom.url).port));
  const config = crashLoopConfig(rwProxy.url("/api/v1/write"), o.run);
  let gateway = await startGatewayProcess(config, o.dir, "edgegate.yaml", { dist: true, ...(o.firstEnv ? { env: o.firstEnv } : {}) });
  const mqttProxy = await startTcpProxy(gateway.mqttPort);
  const client = new Qos1Publisher(`mqtt://127.0.0.1:${mqttProxy.port}`, `crash-loop-${o.run ?? "publisher"}`);

  const random = createRng(o.seed).next; // the kill instants are reproducible from the seed
  const killAt = Array.from({ length: o.kills }, () => 2_000 + random() * (o.durationMs - 4_000)).sort((a, b) => a - b);
  const acked: Message[] = [];
  let sent = 0;
  let odo = 0;
  const lastTs = new Map<string, number>();
  const t0 = Date.now();
  const restartMs: number[] = [];
  let kills = 0;
  let second = 0;
  let selfKills = 0;

  try {
    while (Date.now() - t0 < o.durationMs) {
      const elapsed = Date.now() - t0;
      if (o.onSecond && elapsed >= second * 1000) await o.onSecond(second++, rwProxy);
      if (kills < killAt.length && elapsed >= killAt[kills]!) {
        const killedAt = Date.now();
        const exited = new Promise((r) => gateway.child.once("exit", r));
        gateway.child.kill("SIGKILL");
        await exited;
        kills++;
        gateway = await startGatewayProcess(config, o.dir, "edgegate.yaml", { dist: true, ...(o.envAfterKill ? { env: o.envAfterKill } : {}) }).catch(async (err: Error) => {
          // A crash point during start-up (replay) kills it before it logs "started": start it plainly.
          if (!o.envAfterKill) throw err;
          selfKills++;
          return startGatewayProcess(config, o.dir, "edgegate.yaml", { dist: true });
        });
        mqttProxy.setUpstream(gateway.mqttPort);
        restartMs.push(Date.now() - killedAt);
      }
      if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) {
        // It killed itself (a test-only crash point): start it again, as systemd would.
        selfKills++;
        gateway = await startGatewayProcess(config, o.dir, "edgegate.yaml", { dist: true });
        mqttProxy.setUpstream(gateway.mqttPort);
      }
      for (const [vin, fleet] of VINS) {
        const ts = Math.max(Date.now(), (lastTs.get(vin) ?? 0) + 1);
        lastTs.set(vin, ts);
        const m: Message = { vin, fleet, ts, speed: Math.round(random() * 1200) / 10, odo: ++odo };
        sent++;
        client.publish(`vehicles/${vin}/telemetry`, JSON.stringify({ ts, fleet, speed_kmh: m.speed, odo_km: m.odo }), () => acked.push(m));
      }
      await sleep(25);
    }
    // The publisher keeps re-sending until everything it sent is acknowledged.
    await waitFor("every message acknowledged", () => (acked.length === sent ? true : undefined), 60_000, 100);
  } catch (err) {
    const st = await fetch(`${gateway.httpUrl}/api/v1/status`).then((r) => r.text(), (e: Error) => e.message);
    console.log(`crash loop failed: ${acked.length} of ${sent} acknowledged, client connected: ${client.client.connected}; gateway status: ${st}`);
    console.log(gateway.output().split("\n").slice(-20).join("\n"));
    // Leave no gateway behind (it would keep the test runner alive).
    client.end();
    await gateway.stop();
    await mqttProxy.close();
    await rwProxy.close();
    throw err;
  }
  client.end();
  return { sent, acked, kills, selfKills, restartMs, gateway, mqttProxy, rwProxy };
}

/** What the acknowledged messages imply for each (fleet, window end): count_samples, sum_samples, count_series. */
export function expectedWindows(acked: readonly Message[]): Map<string, { count: number; sum: number; series: number }> {
  const out = new Map<string, { count: number; sum: number; vins: Set<string> }>();
  for (const m of acked) {
    const end = Math.floor(m.ts / INTERVAL_MS) * INTERVAL_MS + INTERVAL_MS;
    const key = `${m.fleet}@${end}`;
    const w = out.get(key) ?? { count: 0, sum: 0, vins: new Set<string>() };
    w.count++;
    w.sum += m.speed;
    w.vins.add(m.vin);
    out.set(key, w);
  }
  return new Map([...out].map(([k, w]) => [k, { count: w.count, sum: Math.round(w.sum * 10) / 10, series: w.vins.size }]));
}

/**
 * Compares Prometheus with the acknowledged messages; returns one line per
 * difference (empty: the guarantee held).
 */
export async function checkPrometheus(prom: PrometheusHandle, acked: readonly Message[], run = "crash-loop"): Promise<{ problems: string[]; rawSamples: number; windows: number }> {
  const problems: string[] = [];
  const at = Date.now();
  const range = "30m";
  let rawSamples = 0;
  for (const [vin] of VINS) {
    const want = acked.filter((m) => m.vin === vin).map((m) => [m.ts, m.odo] as [number, number]).sort((a, b) => a[0] - b[0]);
    const got = (await prom.rawSamples(`vehicle_odo_km{vin="${vin}",run="${run}"}`, range, at))[0]?.samples ?? [];
    rawSamples += got.length;
    const gotKeys = new Map(got.map(([t, v]) => [t, v]));
    let missing = 0;
    let wrong = 0;
    for (const [t, v] of want) {
      const g = gotKeys.get(t);
      if (g === undefined) missing++;
      else if (g !== v) wrong++;
    }
    if (missing > 0 || wrong > 0 || got.length !== want.length) problems.push(`raw ${vin}: ${want.length} acknowledged, ${got.length} in Prometheus, ${missing} missing, ${wrong} with another value`);
  }
  const expected = expectedWindows(acked);
  const outputs = { count: "count_samples", sum: "sum_samples", series: "count_series" } as const;
  const got = new Map<string, Record<string, number>>();
  for (const [field, output] of Object.entries(outputs)) {
    for (const s of await prom.rawSamples(`vehicle_speed_kmh:5s_by_fleet_${output}{run="${run}"}`, range, at)) {
      for (const [t, v] of s.samples) {
        const key = `${s.metric["fleet"]}@${t}`;
        const rec = got.get(key) ?? {};
        rec[field] = v;
        got.set(key, rec);
      }
    }
  }
  for (const [key, want] of expected) {
    const g = got.get(key);
    if (g === undefined) {
      problems.push(`window ${key}: missing (want count ${want.count})`);
      continue;
    }
    if (g["count"] !== want.count || Math.abs((g["sum"] ?? NaN) - want.sum) > 1e-6 || g["series"] !== want.series) {
      problems.push(`window ${key}: got count ${g["count"]} sum ${g["sum"]} series ${g["series"]}, want ${want.count} ${want.sum} ${want.series}`);
    }
  }
  for (const key of got.keys()) if (!expected.has(key)) problems.push(`window ${key}: in Prometheus but no acknowledged message implies it`);
  return { problems, rawSamples, windows: expected.size };
}
