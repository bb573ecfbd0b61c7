import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { createRng } from "../../device-sim/rng.js";
import { startDeviceSim } from "../helpers/device-sim-cli.js";

/**
 * Issue #11: `device-sim verify` checks the delivery guarantee after a real
 * fleet run with crashes. The fleet (`node dist/device-sim/cli.js`, QoS 1,
 * its own offline buffer, the ledger recording only what was acknowledged)
 * drives the real gateway (`node dist/gateway/main.js`), which is SIGKILLed at
 * seeded random instants and restarted on the same storage; the vehicles
 * reconnect through a loopback proxy (the gateway's port changes) and send
 * again whatever was not acknowledged. Then `device-sim verify` recomputes
 * every raw and aggregated series from the ledger through the gateway's own
 * stages and compares with a real Prometheus: it must pass — every
 * acknowledged sample present, with its value, no window off by a duplicate.
 */
const skip = prometheusAvailable() ? false : "needs Debian's prometheus binary";

const SEED = 23;
const DURATION_MS = 18_000;
const KILLS = 3;

// allowed_lateness outlasts a restart and the vehicles' reconnect backoff (device-sim's is capped
// at 30 s; under load a vehicle can fail several attempts in a row), so a backlog replayed after a
// crash still finds its window open in the gateway and in verify's recomputation alike (verify's
// clock is the acknowledgement time; it knows nothing of the restart's grace). The last windows
// are flushed by the gateway's SIGTERM at the end, as verify's recomputation flushes them.
const pipeline = (storage: string, rwUrl: string) => `mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
storage: {path: "${storage}", flush_interval: 200ms, checkpoint_interval: 1s}
topics:
  - topic: "vehicles/{vin}/telemetry"
    format: json
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet, model]
aggregation:
  - match: '{__name__=~"vehicle_(speed_kmh|rpm)"}'
    interval: 2s
    by: [fleet]
    outputs: [avg, min, max, sum_samples, count_samples, count_series]
    allowed_lateness: 60s
forward_unmatched: true
external_labels: {site: crash-e2e}
remote_write:
  - url: "${rwUrl}"
`;

let prom: PrometheusHandle | undefined;
let dir: string;
let gw: GatewayProcess | undefined;
let mqttProxy: TcpProxy | undefined;
let fleetKill: (() => void) | undefined;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "device-sim-crash-"));
  prom = await startPrometheus();
});

after(async () => {
  fleetKill?.();
  await gw?.stop();
  await mqttProxy?.close();
  await prom?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("device-sim verify passes after a QoS 1 fleet run in which the gateway was killed with SIGKILL 3 times", { skip, timeout: 115_000 }, async () => {
  const config = pipeline(join(dir, "outbox.db"), prom!.writeUrl);
  gw = await startGatewayProcess(config, dir, "edgegate.yaml", { dist: true });
  mqttProxy = await startTcpProxy(gw.mqttPort);
  const ledger = join(dir, "run.jsonl");
  const fleet = startDeviceSim(
    ["--url", `mqtt://127.0.0.1:${mqttProxy.port}`, "--vehicles", "6", "--fleets", "2", "--interval", "100ms", "--duration", `${DURATION_MS}ms`, "--seed", String(SEED), "--qos", "1", "--ledger", ledger, "--quiet"],
    80_000,
    { dist: true },
  );
  fleetKill = fleet.kill;

  // The kills start once the whole fleet is connected: a vehicle that cannot make its first
  // connection within device-sim's connect deadline ends the run (a start-up check, not an outage).
  const first = gw;
  await waitFor("the fleet connected", async () => {
    const st = (await (await fetch(`${first.httpUrl}/api/v1/status`)).json()) as { mqtt: { connected_clients: number } };
    return st.mqtt.connected_clients >= 6 ? true : undefined;
  }, 20_000, 100);
  const random = createRng(SEED).next; // the kill instants are reproducible from the seed
  const killAt = Array.from({ length: KILLS }, () => 1_000 + random() * (DURATION_MS - 6_000)).sort((a, b) => a - b);
  const t0 = Date.now();
  const restartMs: number[] = [];
  for (const at of killAt) {
    await sleep(Math.max(0, t0 + at - Date.now()));
    const g = gw;
    const exited = new Promise((r) => g.child.once("exit", r));
    const killedAt = Date.now();
    g.child.kill("SIGKILL");
    await exited;
    gw = await startGatewayProcess(config, dir, "edgegate.yaml", { dist: true });
    mqttProxy.setUpstream(gw.mqttPort);
    restartMs.push(Date.now() - killedAt);
    assert.match(gw.output(), /did not shut down cleanly/, "the restart found the kill");
  }

  const run = await fleet.done;
  fleetKill = undefined;
  assert.equal(run.code, 0, run.stdout + run.stderr);
  // SIGTERM: every open window is flushed into the outbox and delivered before the gateway exits.
  assert.equal(await gw.stop(), 0, gw.output().split("\n").slice(-10).join("\n"));

  const messages = readFileSync(ledger, "utf8").split("\n").filter((l) => l.includes('"type":"message"')).length;
  const verify = await startDeviceSim(["verify", "--ledger", ledger, "--prometheus", prom!.url, "--config", join(dir, "edgegate.yaml"), "--wait", "20s"], 60_000, { dist: true }).done;
  const summary = verify.stdout.split("\n").filter((l) => l.startsWith("verify:") || l.startsWith("FAIL")).join("\n");
  console.log(`device-sim crash run: ${messages} acknowledged messages in the ledger, ${KILLS} SIGKILLs, restarts ${restartMs.join(", ")} ms; fleet: ${run.stdout.trim().split("\n").at(-1)}; ${summary}`);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /verify: OK/);
  // Every reading of the run was acknowledged (none dropped from a vehicle's buffer), and the
  // vehicles did lose their connection at the kills and reconnected.
  const stat = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(run.stdout)?.[1] ?? NaN);
  assert.equal(stat("readings"), 6 * (DURATION_MS / 100), run.stdout);
  assert.equal(stat("dropped"), 0, run.stdout);
  assert.equal(stat("buffered"), 0, run.stdout);
  assert.ok(stat("reconnects") >= KILLS, run.stdout);
});
