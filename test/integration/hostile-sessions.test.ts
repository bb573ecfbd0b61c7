import { test } from "node:test";
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { buildGateway } from "../../gateway/app.js";
import { metricValue } from "../helpers/sender-rig.js";
import { waitFor } from "../helpers/wait.js";
import { startLimitsGateway, limitsConfig } from "../helpers/mqtt-limits-rig.js";
import { portOf } from "../helpers/raw-mqtt.js";

/**
 * The queued-messages gauge once it reaches `n` (bounded wait): with durable acceptance the PUBACK
 * leaves when the journal commit holds the message, and aedes enqueues it for offline sessions right
 * after, so the last message's enqueue can trail its PUBACK by a turn of the event loop.
 */
async function queuedSettles(m: ReturnType<typeof buildGateway>["metrics"], n: number, message?: string): Promise<void> {
  let last = -1;
  await waitFor(`queued messages = ${n}`, async () => ((last = await gauge(m.mqttQueuedMessages)) === n ? true : undefined), 5000, 20).catch(() => undefined);
  assert.equal(last, n, message);
}

/**
 * Issue 10, persistent sessions over real sockets: a connect storm of
 * distinct clean_session=0 client ids must not grow the broker for good.
 * max_persistent_sessions removes the session offline the longest,
 * persistent_client_expiration the ones not back in time; a removed session
 * loses its subscriptions and queue (session_present=0 on its return), a kept
 * one keeps them, and other devices' data is untouched.
 */


/** Connects with clean_session=0 and returns the client and the CONNACK's session-present flag. */
function connectPersistent(url: string, clientId: string): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    client.once("connect", (connack) => resolve({ client, sessionPresent: connack.sessionPresent }));
    client.once("error", reject);
  });
}

const gauge = async (g: { get(): Promise<{ values: { value: number }[] }> }) => (await g.get()).values[0]?.value ?? 0;

test("max_persistent_sessions: a storm of clean_session=0 client ids keeps at most M sessions, evicting the one offline the longest", async (t) => {
  const recv = await startFakeReceiver();
  const M = 5;
  const N = 40;
  const { gw, cleanup } = await startLimitsGateway(limitsConfig(recv.url, `, max_persistent_sessions: ${M}, persistent_client_expiration: 0`));
  t.after(async () => {
    await cleanup();
    await recv.close();
  });
  const url = `mqtt://127.0.0.1:${portOf(gw.mqttAddress())}`;
  const m = gw.metrics;
  const device = await mqtt.connectAsync(url, { clientId: "VIN-S", protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => device.endAsync());
  const t0 = Date.now() - 60_000;
  let sent = 0;
  const publishReading = () => device.publishAsync("vehicles/VIN-S/telemetry", JSON.stringify({ ts: t0 + sent, speed_kmh: sent++ }), { qos: 1 });

  // The first session queues messages while offline; the storm must evict it and release them.
  const first = await connectPersistent(url, "storm-0");
  await first.client.subscribeAsync("cmd/all", { qos: 1 });
  await first.client.endAsync();
  const pub = await mqtt.connectAsync(url, { clientId: "commander", protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => pub.endAsync());
  for (let i = 0; i < 10; i++) await pub.publishAsync("cmd/all", `early-${i}`, { qos: 1 });
  await queuedSettles(m, 10);

  let maxSessions = 0;
  for (let i = 1; i < N; i++) {
    const { client } = await connectPersistent(url, `storm-${i}`);
    await client.subscribeAsync("cmd/all", { qos: 1 });
    await client.endAsync();
    await publishReading();
    maxSessions = Math.max(maxSessions, await gauge(m.mqttPersistentSessions));
  }
  // Client disconnects reach the broker asynchronously; wait until the last one is offline.
  await waitFor("the storm's sessions settled", async () => ((await gauge(m.mqttPersistentSessions)) <= M ? true : undefined), 5000, 20);
  t.diagnostic(`${N} clean_session=0 client ids, max_persistent_sessions ${M}: most sessions seen ${maxSessions}`);
  assert.ok(maxSessions <= M + 1, `sessions gauge reached ${maxSessions}`);
  assert.equal(await gauge(m.mqttPersistentSessions), M);
  assert.equal(await metricValue(m.mqttSessionsRemoved, { reason: "max_persistent_sessions" }), N - M);
  assert.equal(await metricValue(m.mqttSessionsRemoved, { reason: "expired" }), 0);
  // storm-0's ten queued messages left with its session.
  await queuedSettles(m, 0);

  // Only the M kept sessions are still subscribed: one message queues M copies, not N.
  await pub.publishAsync("cmd/all", "late", { qos: 1 });
  await queuedSettles(m, M);

  const evicted = await connectPersistent(url, "storm-0");
  assert.equal(evicted.sessionPresent, false, "an evicted session must not be present");
  const evictedGot: string[] = [];
  evicted.client.on("message", (_t, p) => evictedGot.push(p.toString()));
  const kept = await connectPersistent(url, `storm-${N - 1}`);
  assert.equal(kept.sessionPresent, true, "a kept session must be present");
  const keptGot: string[] = [];
  kept.client.on("message", (_t, p) => keptGot.push(p.toString()));
  await waitFor("the kept session's queued message", () => (keptGot.includes("late") ? true : undefined), 5000, 20);
  assert.deepEqual(evictedGot, [], "an evicted session has neither its queue nor its subscriptions");
  await evicted.client.endAsync();
  await kept.client.endAsync();

  // The device publishing through the storm lost nothing.
  await waitFor(`all ${sent} readings of VIN-S`, () => {
    gw.flushNow();
    return recv.samples().filter((s) => s.labels.vin === "VIN-S").length >= sent ? true : undefined;
  }, 10_000, 50);
  const res = await fetch(`http://${gw.httpAddress()}/-/healthy`);
  assert.equal(res.status, 200);
});

test("persistent_client_expiration removes an offline session not back in time; one that reconnects in time keeps it", async (t) => {
  const recv = await startFakeReceiver();
  const { gw, cleanup } = await startLimitsGateway(limitsConfig(recv.url, ", persistent_client_expiration: 1s"));
  t.after(async () => {
    await cleanup();
    await recv.close();
  });
  const url = `mqtt://127.0.0.1:${portOf(gw.mqttAddress())}`;
  const m = gw.metrics;
  assert.equal(await metricValue(m.mqttSessionsRemoved, { reason: "expired" }), 0);

  const gone = await connectPersistent(url, "gone");
  await gone.client.subscribeAsync("cmd/gone", { qos: 1 });
  await gone.client.endAsync();
  const pub = await mqtt.connectAsync(url, { clientId: "commander", protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => pub.endAsync());
  for (let i = 0; i < 3; i++) await pub.publishAsync("cmd/gone", `m${i}`, { qos: 1 });
  await queuedSettles(m, 3);

  // A session that comes back well within the expiration keeps its subscriptions.
  const back = await connectPersistent(url, "back");
  await back.client.subscribeAsync("cmd/back", { qos: 1 });
  await back.client.endAsync();
  const again = await connectPersistent(url, "back");
  assert.equal(again.sessionPresent, true);

  const started = Date.now();
  await waitFor("the offline session expired", async () => ((await metricValue(m.mqttSessionsRemoved, { reason: "expired" })) === 1 ? true : undefined), 10_000, 50);
  const after = Date.now() - started;
  t.diagnostic(`offline session removed ${after} ms after the wait began (expiration 1s)`);
  await queuedSettles(m, 0, "the expired session's queue is released");
  assert.equal(await gauge(m.mqttPersistentSessions), 1, "only the connected session is left");
  assert.equal(await metricValue(m.mqttSessionsRemoved, { reason: "max_persistent_sessions" }), 0);

  const returned = await connectPersistent(url, "gone");
  assert.equal(returned.sessionPresent, false);
  await returned.client.endAsync();
  // The connected one is never expired, however long it stays.
  const still = await again.client.subscribeAsync("cmd/back", { qos: 1 });
  assert.equal(still[0]?.qos, 1);
  await again.client.endAsync();
});
