import assert from "node:assert/strict";
import { test } from "node:test";
import Database from "better-sqlite3";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { TARGET, metricValue, rwBatch, senderRig, until, within } from "../helpers/sender-rig.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

test("max_retry_duration: a batch answered 500 for too long goes to dead letters with status and text; the backlog moves on", async (t) => {
  let poisonDone = false;
  const rx = await startFakeReceiver({ respond: () => (poisonDone ? 204 : { status: 500, body: "out of bounds: too old sample" }) });
  t.after(() => rx.close());
  const { outbox, path, metrics, sender } = senderRig(t, rx.url, { queue_config: { max_retry_duration: "300ms" } });
  outbox.append(TARGET, [rwBatch("poison", [1000]), rwBatch("good", [2000, 3000])]);
  sender.start();
  await until(() => {
    poisonDone = outbox.deadLetterDepth(TARGET).rows === 1;
    return poisonDone;
  }, 5000, "the poison batch to be dead-lettered");
  await within(3000, sender.drained(), "drained");
  assert.deepEqual(rx.samples().map((s) => s.labels.batch), ["good", "good"]);
  const first500 = rx.requests.findIndex((r) => r.status === 500);
  assert.equal(first500, 0);
  assert.ok(rx.requests.filter((r) => r.status === 500).length >= 3, "retried several times before giving up");
  assert.equal(await metricValue(metrics.rwDeadLettered, { target: TARGET, reason: "max_retry_duration" }), 1);
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const row = db.prepare("SELECT status, error FROM dead_letters").get() as { status: string; error: string };
  assert.deepEqual({ ...row }, { status: "500", error: "HTTP 500: out of bounds: too old sample" });
});

test("network errors do not count towards max_retry_duration: a long outage delivers, never dead-letters", async (t) => {
  const rx = await startFakeReceiver();
  t.after(() => rx.close());
  const upstream = Number(new URL(rx.url).port);
  const proxy = await startTcpProxy(upstream, { kind: "refuse" });
  t.after(() => proxy.close());
  const { outbox, metrics, sender } = senderRig(t, proxy.url(), { queue_config: { max_retry_duration: "100ms" } });
  outbox.append(TARGET, [rwBatch("a", [1000, 2000])]);
  sender.start();
  await until(async () => (await metricValue(metrics.rwRetries, { target: TARGET, reason: "network_error" })) >= 5, 3000, "five refused connections");
  await proxy.setMode({ kind: "reset" });
  await until(() => (proxy.counts.reset ?? 0) >= 3, 3000, "three resets mid-request");
  await new Promise((r) => setTimeout(r, 200)); // well past max_retry_duration
  await proxy.setMode({ kind: "forward" });
  await within(3000, sender.drained(), "drained");
  assert.deepEqual(rx.samples().map((s) => s.timestamp), [1000, 2000]);
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwDeadLettered, { target: TARGET }), 0);
  assert.equal(await metricValue(metrics.rwSamplesSent, { target: TARGET }), 2);
});

test("429 with Retry-After is honoured and retried, and counts as an answer", async (t) => {
  const arrivals: number[] = [];
  const rx = await startFakeReceiver({
    respond: (i) => {
      arrivals.push(Date.now());
      return i === 0 ? { status: 429, body: "slow down", headers: { "Retry-After": "1" } } : 204;
    },
  });
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url);
  outbox.append(TARGET, [rwBatch("a", [1000])]);
  sender.start();
  await within(4000, sender.drained(), "drained");
  assert.ok(arrivals[1]! - arrivals[0]! >= 950, `retried after ${arrivals[1]! - arrivals[0]!} ms`);
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "status_429" }), 1);
  assert.equal(rx.samples().length, 1);
});

test("replay_speed: a backlog is replayed oldest first at most speed × real time, and the replay lag is reported", async (t) => {
  const rx = await startFakeReceiver();
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url, { queue_config: { replay_speed: 10 } });
  const now = Date.now();
  // Ten flushes one second apart, 10 s ago: at 10× they take ≥ 0.9 s to replay.
  for (let i = 0; i < 10; i++) outbox.append(TARGET, [rwBatch("b", [1000 + i])], now - 10_000 + i * 1000);
  const started = Date.now();
  sender.start();
  await until(async () => (await metricValue(metrics.rwReplayLag, { target: TARGET })) > 5, 3000, "the replay lag to show the backlog's age");
  await within(5000, sender.drained(), "drained");
  const took = Date.now() - started;
  assert.ok(took >= 850 && took < 3000, `replay took ${took} ms`);
  assert.deepEqual(rx.samples().map((s) => s.timestamp), [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]);
  // Live data after the backlog is not held back.
  outbox.append(TARGET, [rwBatch("b", [2000])]);
  const t0 = Date.now();
  await until(() => rx.samples().length === 11, 2000, "the live batch");
  assert.ok(Date.now() - t0 < 500, `live batch took ${Date.now() - t0} ms`);
  await until(async () => (await metricValue(metrics.rwReplayLag, { target: TARGET })) === 0, 2000, "lag back to 0");
});

test("remote_timeout: a request the receiver answers too late is sent again, identical; nothing else repeats", async (t) => {
  const rx = await startFakeReceiver({ delayMs: (i) => (i === 1 ? 1500 : i % 3 === 0 ? 150 : 0) });
  t.after(() => rx.close());
  // max_samples_per_send = a row's size: one row per request (no merging), so request 1 is one row.
  const { outbox, metrics, sender } = senderRig(t, rx.url, { remote_timeout: "500ms", queue_config: { max_samples_per_send: 2 } });
  for (let i = 0; i < 6; i++) outbox.append(TARGET, [rwBatch("s", [1000 + 2 * i, 1001 + 2 * i])]);
  sender.start();
  await within(8000, sender.drained(), "drained");
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "timeout" }), 1);
  // At least once: the timed-out request (received, answered late) arrives twice, byte-for-byte the same
  // samples, which a receiver accepts as an exact duplicate; every other request arrives once, in order.
  const bodies = rx.requests.map((r) => JSON.stringify(r.series));
  assert.equal(bodies.length, 7);
  assert.equal(bodies[1], bodies[2]);
  const distinct = bodies.filter((b, i) => i === 0 || b !== bodies[i - 1]).map((b) => (JSON.parse(b) as { samples: { timestamp: number }[] }[])[0]!.samples.map((p) => p.timestamp));
  assert.deepEqual(distinct.flat(), [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011]);
});

test("a resend after an unanswered attempt that the receiver refuses as out of order is taken as delivered; after a 500 it is not", async (t) => {
  // Request 0 is stored but answered too late (remote_timeout); its resend meets Prometheus's "out of order sample".
  const rx = await startFakeReceiver({
    delayMs: (i) => (i === 0 ? 800 : 0),
    respond: (i) => (i === 1 ? { status: 400, body: "out of order sample" } : 204),
  });
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url, { remote_timeout: "300ms" });
  outbox.append(TARGET, [rwBatch("a", [1000, 2000]), rwBatch("b", [3000])]);
  sender.start();
  await within(5000, sender.drained(), "drained");
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwResends, { target: TARGET, result: "refused_as_stored" }), 1);
  assert.equal(await metricValue(metrics.rwSamplesSent, { target: TARGET }), 3);

  // Same 400 after a definite answer (500: not stored): a real refusal, dead-lettered.
  const rx2 = await startFakeReceiver({ respond: (i) => (i === 0 ? 500 : i === 1 ? { status: 400, body: "out of order sample" } : 204) });
  t.after(() => rx2.close());
  const second = senderRig(t, rx2.url);
  second.outbox.append(TARGET, [rwBatch("a", [1000, 2000])]);
  second.sender.start();
  await within(5000, second.sender.drained(), "drained");
  assert.equal(second.outbox.deadLetterDepth(TARGET).rows, 1);
  assert.equal(await metricValue(second.metrics.rwResends, { target: TARGET }), 0);
});

test("after a restart, the batch a killed run had in flight counts as possibly stored", async (t) => {
  const rx = await startFakeReceiver({ respond: (i) => (i === 0 ? { status: 400, body: "out of order sample" } : 204) });
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url);
  outbox.append(TARGET, [rwBatch("a", [1000, 2000]), rwBatch("b", [3000])]);
  // What a run killed mid-request leaves: the attempt recorded, no answer.
  outbox.recordAttempt(outbox.oldest(TARGET)!.id);
  sender.start();
  await within(5000, sender.drained(), "drained");
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwResends, { target: TARGET, result: "refused_as_stored" }), 1);
});

test("once an attempt went unanswered, a later 503 does not make the resend's out-of-order 400 a real refusal", async (t) => {
  // 0: stored, answered too late; 1: 503 (e.g. from a proxy); 2: Prometheus has it already.
  const rx = await startFakeReceiver({
    delayMs: (i) => (i === 0 ? 800 : 0),
    respond: (i) => (i === 1 ? { status: 503, body: "overloaded" } : i === 2 ? { status: 400, body: "out of order sample" } : 204),
  });
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url, { remote_timeout: "300ms" });
  outbox.append(TARGET, [rwBatch("a", [1000, 2000])]);
  sender.start();
  await within(5000, sender.drained(), "drained");
  assert.deepEqual(rx.requests.map((r) => r.status), [204, 503, 400]);
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwResends, { target: TARGET, result: "refused_as_stored" }), 1);
});
