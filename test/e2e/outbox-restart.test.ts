import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.js";
import { mosquittoPub } from "../helpers/mosquitto.js";
import { waitFor } from "../helpers/wait.js";

const skip = prometheusAvailable() ? false : "prometheus is not installed (CI installs Debian's package)";

/** A loopback port that nothing listens on (taken from the OS, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const config = (url: string) => `mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
storage: {path: "./outbox.db", flush_interval: 200ms}
topics:
  - topic: "plant/{line}/press"
    metric_prefix: "press_"
    timestamp_field: "ts"
remote_write:
  - url: "${url}"
    name: primary
    queue_config: {min_backoff: 50ms, max_backoff: 200ms}
`;

let dir: string | undefined;
let prom: PrometheusHandle | undefined;
let gw: GatewayProcess | undefined;
after(async () => {
  await gw?.stop();
  await prom?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("batches left in the outbox by a previous run are sent after a restart", { skip, timeout: 90_000 }, async () => {
  dir = mkdtempSync(join(tmpdir(), "edgegate-restart-"));
  // Run 1: the uplink is down (nothing listens), so everything stays in the outbox.
  gw = await startGatewayProcess(config(`http://127.0.0.1:${await closedPort()}/api/v1/write`), dir);
  const t0 = Date.now() - 10_000;
  const lines = [0, 1, 2, 3, 4].map((i) => JSON.stringify({ ts: t0 + i * 1000, pressure_bar: 100 + i }));
  await mosquittoPub(gw.mqttPort, "line7", "plant/7/press", lines);
  const httpUrl = gw.httpUrl;
  await waitFor("5 samples committed to the outbox", async () => {
    const st = (await (await fetch(`${httpUrl}/api/v1/status`)).json()) as { outbox: { samples: number }; targets: { last_error: unknown }[] };
    return st.outbox.samples === 5 && st.targets[0]?.last_error ? st : undefined;
  });
  assert.equal(await gw.stop(), 0, gw.output());
  gw = undefined;

  // Run 2: same outbox file, the receiver is up.
  prom = await startPrometheus();
  gw = await startGatewayProcess(config(prom.writeUrl), dir);
  const p = prom;
  const series = await waitFor("the backlog in Prometheus", async () => {
    const r = await p.rawSamples("press_pressure_bar", "5m");
    return r[0]?.samples.length === 5 ? r : undefined;
  });
  assert.deepEqual(series[0]!.metric, { __name__: "press_pressure_bar", line: "7" });
  assert.deepEqual(
    series[0]!.samples,
    [0, 1, 2, 3, 4].map((i) => [t0 + i * 1000, 100 + i]),
  );
  const httpUrl2 = gw.httpUrl;
  await waitFor("outbox empty", async () => {
    const st = (await (await fetch(`${httpUrl2}/api/v1/status`)).json()) as { outbox: { rows: number } };
    return st.outbox.rows === 0 ? true : undefined;
  });
});
