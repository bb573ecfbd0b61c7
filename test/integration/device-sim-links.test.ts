import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import tls from "node:tls";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Aedes } from "aedes";
import { startFleet } from "../../device-sim/fleet.js";
import { flinkRegion } from "../../device-sim/flink-events.js";
import { readLedger } from "../../device-sim/ledger.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Received {
  clientId: string;
  topic: string;
  payload: Buffer;
  at: number;
}

let broker: Aedes;
let server: net.Server;
let url: string;
let received: Received[] = [];
let sessions: { clientId: string; clean: boolean }[] = [];
const disconnects: string[] = [];
const dir = mkdtempSync(join(tmpdir(), "device-sim-it-"));

before(async () => {
  broker = await Aedes.createBroker();
  broker.on("client", (c) => sessions.push({ clientId: c.id, clean: c.clean }));
  broker.on("clientDisconnect", (c) => disconnects.push(c.id));
  broker.on("publish", (packet, client) => {
    if (client) received.push({ clientId: client.id, topic: packet.topic, payload: Buffer.from(packet.payload), at: Date.now() });
  });
  server = net.createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  received = [];
  sessions = [];
  disconnects.length = 0;
});

type Reading = { ts: number; speed_kmh: number };
const readingsOf = (r: Received): Reading[] => {
  const doc = JSON.parse(r.payload.toString()) as Reading | Reading[];
  return Array.isArray(doc) ? doc : [doc];
};

describe("lossy links", () => {
  it("buffers while offline, drops the connection, reconnects and replays the backlog with the original timestamps", async () => {
    const fleet = await startFleet({ url, vehicles: 2, intervalMs: 100, durationMs: 2500, seed: 4, minBackoffMs: 50, maxBackoffMs: 200 });
    const [v0, v1] = fleet.vehicleIds() as [string, string];
    await new Promise((r) => setTimeout(r, 500));
    const offAt = Date.now();
    fleet.disconnect(0, 1000);
    await new Promise((r) => setTimeout(r, 500));
    const mid = fleet.stats();
    assert.equal(mid.offline, 1);
    assert.ok(mid.buffered >= 3, `buffered ${mid.buffered}`);
    assert.equal(mid.connected, 1, "the offline vehicle's TCP connection is gone");
    const stats = await fleet.done;

    assert.equal(stats.errors, 0);
    assert.equal(stats.dropped, 0);
    assert.equal(stats.buffered, 0);
    assert.ok(stats.reconnects >= 1);
    assert.ok(disconnects.includes(v0), "the broker saw the vehicle go");
    assert.equal(sessions.filter((s) => s.clientId === v0).length, 2, "and come back");
    assert.equal(sessions.filter((s) => s.clientId === v1).length, 1);

    for (const vin of [v0, v1]) {
      const msgs = received.filter((r) => r.clientId === vin);
      const ts = msgs.flatMap(readingsOf).map((p) => p.ts);
      // Every reading arrives exactly once, in order, on its nominal 100 ms grid.
      assert.equal(ts.length, 25, vin);
      for (let i = 1; i < ts.length; i++) assert.equal(ts[i]! - ts[i - 1]!, 100, `${vin} reading ${i}`);
    }
    // Nothing from v0 arrived during its outage; the backlog came as one array with readings older than its arrival.
    const v0msgs = received.filter((r) => r.clientId === v0);
    assert.ok(!v0msgs.some((r) => r.at > offAt + 20 && r.at < offAt + 980), "published while offline");
    const replay = v0msgs.find((r) => readingsOf(r).length > 1);
    assert.ok(replay, "no backlog replay");
    assert.ok(readingsOf(replay).length >= 8, `replayed ${readingsOf(replay).length}`);
    assert.ok(readingsOf(replay)[0]!.ts < replay.at - 800, "replayed readings keep their original time");
  });

  it("bounds the buffer: a vehicle offline longer than its buffer keeps only the newest readings", async () => {
    const fleet = await startFleet({ url, vehicles: 1, intervalMs: 50, durationMs: 1500, seed: 6, bufferSize: 4, minBackoffMs: 20, maxBackoffMs: 50 });
    fleet.disconnect(0, 1000);
    const stats = await fleet.done;
    const ts = received.flatMap(readingsOf).map((p) => p.ts);
    assert.equal(stats.dropped, 30 - ts.length);
    assert.ok(stats.dropped >= 14, `dropped ${stats.dropped}`);
    assert.ok(ts.every((t, i) => i === 0 || t > ts[i - 1]!), "order kept");
    assert.equal(stats.readings, ts.length);
  });
});

describe("payload modes against a broker", () => {
  it("flink-events: V%010d clients on fleet/<region>/<id>/events at the target rate, QoS 0, persistent sessions", async () => {
    const fleet = await startFleet({ url, vehicles: 20, intervalMs: 1000, durationMs: 1000, seed: 9, mode: "flink-events", ratePerS: 400, qos: 0, clean: false });
    const stats = await fleet.done;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(stats.sent, 400);
    assert.equal(received.length, 400);
    assert.ok(sessions.every((s) => !s.clean));
    for (const r of received) {
      const e = JSON.parse(r.payload.toString()) as { eventType: string; vehicleId: string; region: string; timestamp: number; measurement: number };
      assert.equal(r.clientId, e.vehicleId);
      assert.match(e.vehicleId, /^V\d{10}$/);
      assert.equal(r.topic, `fleet/${e.region}/${e.vehicleId}/events`);
      assert.equal(e.region, flinkRegion(9, Number(e.vehicleId.slice(1))));
      assert.ok(["IC_RPM", "ELECTRIC_RPM", "WARNINGS"].includes(e.eventType));
    }
  });

  it("flink-batch: arrays of --batch-size events of one vehicle; with --batch-max-age a partial batch goes out when its oldest event is that old", async () => {
    const full = await startFleet({ url, vehicles: 3, intervalMs: 1000, durationMs: 1500, seed: 4, mode: "flink-batch", batchSize: 10, ratePerS: 100, qos: 0 });
    const s1 = await full.done;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s1.readings, 150);
    const perVehicle = new Map<string, number[]>();
    for (const r of received) {
      const batch = JSON.parse(r.payload.toString()) as { vehicleId: string; region: string }[];
      assert.ok(Array.isArray(batch));
      for (const e of batch) assert.equal(r.topic, `fleet/${e.region}/${e.vehicleId}/events`);
      assert.ok(batch.every((e) => e.vehicleId === r.clientId), "a vehicle's batch holds only its own events");
      perVehicle.set(r.clientId, [...(perVehicle.get(r.clientId) ?? []), batch.length]);
    }
    for (const sizes of perVehicle.values()) {
      // Full batches of 10, then the partial one flushed at the end of the run.
      assert.ok(sizes.slice(0, -1).every((n) => n === 10), JSON.stringify(sizes));
      assert.ok(sizes.at(-1)! >= 1 && sizes.at(-1)! <= 10);
    }
    assert.equal([...perVehicle.values()].flat().reduce((a, b) => a + b, 0), 150);

    received = [];
    // 20 vehicles at 40 events/s: 2 events/s each, so a batch of 10 would take ~5 s; the age bound sends after 300 ms.
    const aged = await startFleet({ url, vehicles: 20, intervalMs: 1000, durationMs: 2000, seed: 4, mode: "flink-batch", batchSize: 10, batchMaxAgeMs: 300, ratePerS: 40, qos: 0 });
    const s2 = await aged.done;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s2.readings, 80);
    assert.equal(received.reduce((n, r) => n + (JSON.parse(r.payload.toString()) as unknown[]).length, 0), 80);
    for (const r of received) {
      const batch = JSON.parse(r.payload.toString()) as { timestamp: number }[];
      assert.ok(batch.length < 10, "no vehicle fills a batch at 2 events/s before the age bound");
      // Oldest event to arrival: the age bound plus at most a scheduler wake-up (30 ms) and loopback; generous for a loaded box.
      assert.ok(r.at - batch[0]!.timestamp <= 300 + 400, `batch of ${batch.length} arrived ${r.at - batch[0]!.timestamp} ms after its oldest event`);
    }
  });

  it("batch: arrays of --batch-size readings, the last partial batch flushed at the end", async () => {
    const fleet = await startFleet({ url, vehicles: 2, intervalMs: 100, durationMs: 1250, seed: 2, mode: "batch", batchSize: 5 });
    const stats = await fleet.done;
    const sizes = received.map((r) => readingsOf(r).length);
    // Offsets 0 and 50 ms: 13 + 12 readings in 1.25 s → 5+5+3 and 5+5+2.
    assert.equal(stats.readings, 25);
    assert.deepEqual(sizes.sort(), [2, 3, 5, 5, 5, 5], JSON.stringify(sizes));
    assert.ok(received.every((r) => r.payload.toString().startsWith("[")));
  });
});

describe("device-sim --workers", () => {
  it("spreads the vehicles over worker processes, sums their figures and merges their ledgers", async () => {
    const ledger = join(dir, "w.jsonl");
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", "device-sim/cli.ts", "--url", url, "--vehicles", "6", "--interval", "200ms", "--duration", "1s", "--workers", "3", "--ledger", ledger, "--seed", "5"], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 40_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /summary: vehicles 6 +connected 6 +messages sent 30 +errors 0/);
    assert.equal(new Set(received.map((m) => m.clientId)).size, 6);
    assert.equal(received.length, 30);
    const types: string[] = [];
    for await (const rec of readLedger(ledger)) types.push(rec.type);
    assert.equal(types.filter((t) => t === "header").length, 1);
    assert.equal(types.filter((t) => t === "message").length, 30);
    assert.equal(types.filter((t) => t === "signal").length, 6 * 12);
    assert.ok(!readFileSync(ledger, "utf8").includes("part"));
  });
});

describe("TLS (mqtts://)", () => {
  const haveOpenssl = spawnSync("openssl", ["version"]).status === 0;
  it("connects with --ca, and refuses an untrusted server unless --insecure", { skip: haveOpenssl ? false : "needs openssl" }, async () => {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"]);
    assert.equal(made.status, 0, made.stderr.toString());
    const tlsServer = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, broker.handle);
    await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
    const tlsUrl = `mqtts://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
    try {
      const trusted = await startFleet({ url: tlsUrl, vehicles: 2, intervalMs: 100, durationMs: 300, seed: 1, tls: { ca: readFileSync(cert), rejectUnauthorized: true } });
      assert.equal((await trusted.done).sent, 6);
      await assert.rejects(startFleet({ url: tlsUrl, vehicles: 1, intervalMs: 100, durationMs: 300, seed: 1, connectTimeoutMs: 1500, tls: { rejectUnauthorized: true } }), /could not connect 1 vehicle/);
      const insecure = await startFleet({ url: tlsUrl, vehicles: 1, intervalMs: 100, durationMs: 300, seed: 1, tls: { rejectUnauthorized: false } });
      assert.equal((await insecure.done).sent, 3);
    } finally {
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    }
  });
});
