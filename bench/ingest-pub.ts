/**
 * A publisher process of the ingest benchmark for QoS 1 (mosquitto_pub -l
 * -q 1 drops what is in flight at end of input): `connections` MQTT.js
 * clients, each a range of vehicles, publish `count` messages in total with
 * at most `window` (default 50, fewer than its vehicles, so no two messages of
 * one vehicle are in flight at once and share an arrival stamp) unacknowledged
 * per client, and the process exits after
 * the last PUBACK, printing `{"acked":n}`. Payloads are built and clients
 * connected first; the process prints `ready` and starts on a line on stdin,
 * so neither is in the measured time.
 *
 *   node --import tsx bench/ingest-pub.ts <port> <qos> <count> <firstVehicle> <vehicles> <connections> [window]
 */
import mqtt from "mqtt";
import { telemetry, vin } from "./ingest-payload.js";

const [port, qos, count, first, vehicles, connections, window = 50] = process.argv.slice(2).map(Number) as number[];
let acked = 0;

async function client(c: number, n: number, go: Promise<void>, ready: () => void): Promise<void> {
  const cl = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: `ingest-pub-${process.pid}-${c}`, reconnectPeriod: 0, clean: true });
  const perClient = Math.max(1, Math.floor(vehicles! / connections!));
  let inflight = 0;
  let wake: (() => void) | null = null;
  const payloads: { topic: string; payload: string }[] = [];
  for (let i = 0; i < n; i++) {
    // No timestamp: stamped on arrival (a stamp taken now would be stale by the time a slow run sends it).
    const v = first! + c * perClient + (i % perClient);
    payloads.push({ topic: `vehicles/${vin(v)}/telemetry`, payload: telemetry(v, i) });
  }
  ready();
  await go;
  for (const m of payloads) {
    while (inflight >= window!) await new Promise<void>((r) => (wake = r));
    inflight++;
    cl.publish(m.topic, m.payload, { qos: qos as 0 | 1 }, (err) => {
      if (err) throw err;
      acked++;
      inflight--;
      const w = wake;
      wake = null;
      w?.();
    });
  }
  while (inflight > 0) await new Promise<void>((r) => (wake = r));
  await cl.endAsync();
}

let start!: () => void;
const go = new Promise<void>((r) => (start = r));
let waiting = connections!;
const ready = () => {
  if (--waiting === 0) process.stdout.write("ready\n");
};
process.stdin.once("data", () => start());
const jobs: Promise<void>[] = [];
for (let c = 0; c < connections!; c++) jobs.push(client(c, Math.floor(count! / connections!) + (c < count! % connections! ? 1 : 0), go, ready));
await Promise.all(jobs);
process.stdout.write(JSON.stringify({ acked }) + "\n");
process.exit(0);
