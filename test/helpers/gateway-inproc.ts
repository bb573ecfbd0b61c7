import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { buildGateway, type Gateway } from "../../gateway/app.js";
import { parseConfig } from "../../gateway/config/load.js";

/** The real gateway, in process, on ephemeral loopback ports with a temp SQLite file; `yaml` is appended to that base. */
export async function startTestGateway(yaml: string, opts: { now?: () => number } = {}): Promise<{ gw: Gateway; dir: string; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-it-"));
  const config = parseConfig(
    `mqtt: {listen: "127.0.0.1:0"}\nhttp: {listen: "127.0.0.1:0"}\nstorage: {path: "${join(dir, "outbox.db")}", flush_interval: 100ms}\n${yaml}`,
    "test config",
  );
  const gw = buildGateway(config, { now: opts.now, shutdownSendTimeoutMs: 2000 });
  await gw.start();
  return {
    gw,
    dir,
    async cleanup() {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An MQTT.js 3.1.1 client connected to the gateway's broker. */
export async function connectDevice(gw: Gateway, clientId: string): Promise<MqttClient> {
  const addr = gw.mqttAddress();
  const port = addr.slice(addr.lastIndexOf(":") + 1);
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
}
