import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGateway, type Gateway } from "../../gateway/app.js";
import { parseConfig } from "../../gateway/config/load.js";

/** The real gateway in process on loopback port 0; `yaml` carries its own `mqtt` section (see limitsConfig). */
export async function startLimitsGateway(yaml: string): Promise<{ gw: Gateway; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-limits-"));
  const gw = buildGateway(parseConfig(`http: {listen: "127.0.0.1:0"}\nstorage: {path: "${join(dir, "outbox.db")}", flush_interval: 100ms}\n${yaml}`, "test config"), { shutdownSendTimeoutMs: 2000 });
  await gw.start();
  return {
    gw,
    async cleanup() {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One vehicle topic rule and a fake receiver target; `mqttKeys` (", key: value" …) extends the loopback mqtt section. */
export function limitsConfig(url: string, mqttKeys = ""): string {
  return `mqtt: {listen: "127.0.0.1:0"${mqttKeys}}
topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
remote_write:
  - url: "${url}"
    name: fake
    queue_config: {min_backoff: 20ms, max_backoff: 100ms, max_samples_per_send: 500}
`;
}
