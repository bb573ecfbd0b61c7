import mqtt from "mqtt";
import { mkdtempSync, rmSync } from "node:fs";
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
 * CLIENTS devices each keep WINDOW messages in flight (a telematics unit's
 * send window); throughput = messages acknowledged per second; latency =
 * publish() to PUBACK per message (closed loop: it includes queueing).
 *
 * 50 devices, not 8: group commit pays one fsync per group, and a group is
 * what is in flight across the fleet. Measured on the 2-core dev box with 8 ×
 * 20 in flight (~80 messages per group, fsync ~1.3–5 ms): 0.45–0.58× of the
 * baseline; with 50 × 20: ~1.0×. A gateway serves a fleet; a lone fast
 * device pays the fsync per round trip.
 */
const CLIENTS = 50;
const WINDOW = 20;

export interface AckRun {
  rate: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function run(messages: { topic: string; payload: string }[], ackBeforeDurable: boolean): Promise<AckRun> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-bench-ack-"));
  const config = parseConfig(
    `mqtt: {listen: "127.0.0.1:0", max_payload_bytes: 1048576}
http: {listen: "127.0.0.1:0"}
storage: {path: "${join(dir, "outbox.db")}"}
${BENCH_RULES_YAML}`,
    "bench",
  );
  const gw = buildGateway(config, { shutdownSendTimeoutMs: 100, ackBeforeDurable });
  await gw.start();
  const port = Number(gw.mqttAddress().split(":").pop());
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: `bench-ack-${i}`, reconnectPeriod: 0 })),
  );
  const latencies: number[] = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
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
  await Promise.all(clients.map((c) => c.endAsync()));
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return { rate: messages.length / s, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export async function benchDurableAck(messages: { topic: string; payload: string }[]): Promise<{ journal: AckRun; baseline: AckRun }> {
  const j: AckRun[] = [];
  const b: AckRun[] = [];
  await run(messages.slice(0, 2000), false); // warm-up
  for (let i = 0; i < 3; i++) {
    // interleaved so drift of the shared machine hits both alike
    b.push(await run(messages, true));
    j.push(await run(messages, false));
  }
  const pick = (xs: AckRun[]): AckRun => ({ rate: median(xs.map((x) => x.rate)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)) });
  return { journal: pick(j), baseline: pick(b) };
}
