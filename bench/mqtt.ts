import { createServer, type Server } from "node:net";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { buildGateway } from "../gateway/app.js";
import { parseConfig } from "../gateway/config/load.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./stats.js";
import { BENCH_RULES_YAML } from "./config.js";

/** Publishes all messages with QoS 0 from one MQTT.js client and waits until `received()` reaches the count. */
async function drive(port: number, messages: { topic: string; payload: string }[], received: () => number): Promise<number> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: `bench-${process.pid}-${Math.random()}`, reconnectPeriod: 0 });
  const start = received();
  const t0 = process.hrtime.bigint();
  for (const m of messages) client.publish(m.topic, m.payload, { qos: 0 });
  const deadline = Date.now() + 60_000;
  while (received() - start < messages.length && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await client.endAsync();
  return (received() - start) / s;
}

async function bare(messages: { topic: string; payload: string }[]): Promise<number> {
  const aedes = await Aedes.createBroker();
  let n = 0;
  aedes.published = (packet, client, done) => {
    if (client) {
      JSON.parse(packet.payload.toString());
      n++;
    }
    done();
  };
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const rate = await drive((server.address() as { port: number }).port, messages, () => n);
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((r) => aedes.close(() => r()));
  return rate;
}

async function gateway(messages: { topic: string; payload: string }[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-bench-"));
  const config = parseConfig(
    // One client publishes everything: the per-client mqtt.message_rate_limit would measure itself.
    `mqtt: {listen: "127.0.0.1:0", max_payload_bytes: 1048576, message_rate_limit: 0}
http: {listen: "127.0.0.1:0"}
storage: {path: "${join(dir, "outbox.db")}"}
${BENCH_RULES_YAML}`,
    "bench",
  );
  const gw = buildGateway(config, { shutdownSendTimeoutMs: 100 });
  await gw.start();
  const port = Number(gw.mqttAddress().split(":").pop());
  const counter = gw.metrics.mqttMessagesReceived;
  let received = 0;
  const poll = setInterval(() => void counter.get().then((v) => (received = v.values[0]?.value ?? 0)), 5);
  const rate = await drive(port, messages, () => received);
  clearInterval(poll);
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

export async function benchMqtt(messages: { topic: string; payload: string }[]): Promise<{ gateway: number; bare: number }> {
  const g: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < 3; i++) {
    // interleaved so drift of the shared machine hits both alike
    b.push(await bare(messages));
    g.push(await gateway(messages));
  }
  return { gateway: median(g), bare: median(b) };
}
