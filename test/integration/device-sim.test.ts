import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net, { type AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Aedes } from "aedes";
import { generateMessages, startFleet } from "../../device-sim/fleet.js";
import { makeVin } from "../../device-sim/vin.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIELDS = ["battery_voltage_v", "coolant_temp_c", "dtc_count", "fleet", "fuel_level_ratio", "gear", "ignition", "mil_on", "model", "odometer_km", "position", "rpm", "speed_kmh", "ts"];

interface Received {
  clientId: string;
  topic: string;
  payload: string;
}

let broker: Aedes;
let server: net.Server;
let url: string;
const clientIds = new Set<string>();
let received: Received[] = [];

before(async () => {
  broker = await Aedes.createBroker();
  broker.on("client", (c) => clientIds.add(c.id));
  broker.on("publish", (packet, client) => {
    // client is null for the broker's own $SYS messages.
    if (client) received.push({ clientId: client.id, topic: packet.topic, payload: packet.payload.toString() });
  });
  server = net.createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  clientIds.clear();
  received = [];
});

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from source; killed after timeoutMs so a hang fails the test instead of the suite. */
function runCli(args: string[], opts: { timeoutMs?: number; onStart?: (kill: (sig: NodeJS.Signals) => void) => void } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "device-sim/cli.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    opts.onStart?.((sig) => child.kill(sig));
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error("timed out waiting for condition");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("startFleet against an in-process aedes broker", () => {
  it("connects each vehicle as its VIN and publishes exactly what generateMessages predicts", async () => {
    const t0 = Date.now();
    const fleet = await startFleet({ url, vehicles: 5, intervalMs: 100, durationMs: 1000, seed: 7 });
    const stats = await fleet.done;
    const t1 = Date.now();

    const vins = Array.from({ length: 5 }, (_, i) => makeVin(7, i));
    assert.deepEqual([...clientIds].sort(), [...vins].sort());
    assert.equal(stats.vehicles, 5);
    assert.equal(stats.connected, 5);
    assert.equal(stats.errors, 0);
    // Offsets 0..80 ms and 10 ticks of 100 ms fit in 1 s for every vehicle.
    assert.equal(stats.sent, 50);
    assert.equal(received.length, stats.sent);
    assert.ok(stats.elapsedMs >= 900 && stats.elapsedMs < 5000, `elapsed ${stats.elapsedMs}`);
    assert.deepEqual(fleet.stats(), stats);

    const expected = generateMessages({ vehicles: 5, intervalMs: 100, count: 50, seed: 7, startMs: 0 });
    for (const vin of vins) {
      const mine = received.filter((r) => r.clientId === vin);
      assert.equal(mine.length, 10, vin);
      const want = expected.filter((m) => m.vin === vin);
      for (let k = 0; k < mine.length; k++) {
        const got = mine[k]!;
        assert.equal(got.topic, `vehicles/${vin}/telemetry`);
        const payload = JSON.parse(got.payload) as Record<string, unknown>;
        assert.deepEqual(Object.keys(payload).sort(), FIELDS);
        assert.ok(typeof payload.ts === "number" && payload.ts >= t0 && payload.ts <= t1, `ts ${String(payload.ts)}`);
        const { ts: _ts, ...values } = payload;
        const { ts: _expectedTs, ...expectedValues } = want[k]!.payload;
        assert.deepEqual(values, expectedValues, `${vin} message ${k}`);
      }
    }
  });

  it("runs until stop() when no duration is given, then drains and disconnects", async () => {
    const fleet = await startFleet({ url, vehicles: 3, intervalMs: 50, seed: 8, qos: 0, topicPrefix: "cars" });
    await waitFor(() => received.length >= 6, 5_000);
    const stats = await fleet.stop();
    assert.deepEqual(await fleet.done, stats);
    await waitFor(() => received.length >= stats.sent, 2_000);
    assert.equal(received.length, stats.sent);
    assert.ok(received.every((r) => r.topic === `cars/${r.clientId}/telemetry`));
    const count = received.length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(received.length, count, "published after stop()");
  });

  it("rejects naming the URL when the broker is unreachable", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const dead = `mqtt://127.0.0.1:${port}`;
    await assert.rejects(startFleet({ url: dead, vehicles: 2, intervalMs: 100, durationMs: 500, seed: 1, connectTimeoutMs: 500 }), (err: Error) => {
      assert.match(err.message, new RegExp(dead.replace(/[.]/g, "\\.")));
      return true;
    });
  });
});

describe("device-sim CLI", () => {
  it("runs for --duration, exits 0 and prints a summary", async () => {
    const r = await runCli(["--url", url, "--vehicles", "2", "--interval", "200ms", "--duration", "1s", "--seed", "1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /summary: vehicles 2 +connected 2 +messages sent 10 +errors 0 +elapsed [\d.]+s +mean rate [\d.]+ msg\/s/);
    assert.equal(received.length, 10);
    assert.deepEqual([...clientIds].sort(), [makeVin(1, 0), makeVin(1, 1)].sort());
  });

  it("stops cleanly on SIGTERM when no duration is given", async () => {
    const r = await runCli(["--url", url, "--vehicles", "2", "--interval", "100ms", "--seed", "3"], {
      onStart: (kill) => {
        void waitFor(() => received.length >= 4, 10_000).then(() => kill("SIGTERM"), () => kill("SIGKILL"));
      },
    });
    assert.equal(r.code, 0, r.stderr);
    const m = /messages sent (\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[1]), received.length);
  });

  it("exits 2 naming the flag on a bad --interval", async () => {
    const r = await runCli(["--url", url, "--interval", "foo"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--interval/);
    assert.equal(clientIds.size, 0);
  });
});
