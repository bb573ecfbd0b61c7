import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { pino } from "pino";
import { remoteWriteSchema } from "../../gateway/config/schema-remote-write.js";
import { createMetrics } from "../../gateway/metrics/catalogue.js";
import { Outbox } from "../../gateway/outbox/outbox.js";
import { OutboxAdmin } from "../../gateway/outbox/admin.js";
import { OutboxSink } from "../../gateway/remote-write/pending-series.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { TargetSender } from "../../gateway/remote-write/target-sender.js";
import { startFakeReceiver, type FakeReceiver } from "../helpers/fake-receiver.js";
import { metricValue, rwBatch, within } from "../helpers/sender-rig.js";

const TARGET = "prom";
const SERIES = 24;
const FLUSHES = 8;

/** OutboxSink → Outbox → TargetSender → fake receiver, as the gateway wires them. */
async function rig(t: TestContext, shards: number, receiver: FakeReceiver, before?: (outbox: Outbox) => void) {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-shards-"));
  const path = join(dir, "outbox.db");
  const outbox = Outbox.open(path, { maintenanceIntervalMs: 0 });
  before?.(outbox);
  const metrics = createMetrics();
  const log = pino({ level: "silent" });
  const config = remoteWriteSchema.parse({
    url: receiver.url,
    name: TARGET,
    queue_config: { max_samples_per_send: 4, min_backoff: "10ms", max_backoff: "50ms", replay_speed: 0, shards },
  });
  const sender = new TargetSender({ name: TARGET, config, outbox, metrics, log, userAgent: "edgegate/0.0.0-test" });
  const sink = new OutboxSink(outbox, [{ name: TARGET, maxSamplesPerSend: 4, shards }], metrics, log);
  sender.start();
  t.after(async () => {
    await sender.close(100);
    outbox.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { outbox, path, metrics, sender, sink };
}

/** FLUSHES flushes of 2 samples per series each (timestamps rising), committed while the senders run. */
async function feed(sink: OutboxSink): Promise<number> {
  let n = 0;
  for (let f = 0; f < FLUSHES; f++) {
    const samples: Sample[] = [];
    for (let k = 0; k < 2; k++) {
      const ts = 1_000_000 + f * 10 + k;
      for (let s = 0; s < SERIES; s++) samples.push({ labels: { __name__: "temp", device: `dev-${s}` }, value: ts, timestamp: ts });
    }
    sink.write(samples);
    sink.flush();
    n += samples.length;
    await new Promise((r) => setTimeout(r, 15));
  }
  return n;
}

/** Every sample once, and per series strictly increasing timestamps in arrival order. */
function checkDelivery(receiver: FakeReceiver, total: number): void {
  const got = receiver.samples();
  const seen = new Set<string>();
  const last = new Map<string, number>();
  for (const s of got) {
    const key = `${s.labels.device}@${s.timestamp}`;
    assert.ok(!seen.has(key), `sample ${key} arrived twice`);
    seen.add(key);
    const prev = last.get(s.labels.device!);
    assert.ok(prev === undefined || s.timestamp > prev, `series ${s.labels.device}: ${s.timestamp} arrived after ${prev}`);
    last.set(s.labels.device!, s.timestamp);
  }
  assert.equal(got.length, total);
  assert.equal(seen.size, total);
}

test("shards: 4 sends in parallel, every sample exactly once, each series in order", async (t) => {
  const receiver = await startFakeReceiver({ delayMs: () => 25 });
  const { outbox, path, metrics, sender, sink } = await rig(t, 4, receiver);
  const total = await feed(sink);
  await within(10_000, sender.drained(), "the shards to drain");
  t.diagnostic(`shards: 4: ${receiver.requests.length} requests, at most ${receiver.maxInFlight()} in flight`);
  assert.ok(receiver.maxInFlight() > 1, `max in flight ${receiver.maxInFlight()}`);
  assert.ok(receiver.maxInFlight() <= 4, `max in flight ${receiver.maxInFlight()}`);
  checkDelivery(receiver, total);
  // Self-metrics and status are per target, summed over the shards.
  assert.equal(await metricValue(metrics.rwSamplesSent, { target: TARGET }), total);
  assert.equal(await metricValue(metrics.samplesOut, { target: TARGET }), total);
  assert.equal(sender.status().name, TARGET);
  assert.equal(sender.status().pendingRows, 0);
  assert.equal(outbox.depth(TARGET).rows, 0);
  // The CLI reports and selects by target, whatever the shard queues.
  const more = await feed(new OutboxSink(outbox, [{ name: TARGET, maxSamplesPerSend: 4, shards: 4 }], metrics, pino({ level: "silent" })));
  await sender.close(100);
  const admin = OutboxAdmin.open(path);
  try {
    const queued = admin.status().queues;
    assert.deepEqual(queued.map((q) => q.target), [TARGET]);
    assert.equal(queued[0]!.samples, outbox.depth(TARGET).samples);
    assert.ok(queued[0]!.samples > 0 && queued[0]!.samples <= more);
    assert.equal(admin.purge({ target: TARGET, pending: true }).samples, queued[0]!.samples);
  } finally {
    admin.close();
  }
});

test("shards: 1 never has two requests in flight", async (t) => {
  const receiver = await startFakeReceiver({ delayMs: () => 25 });
  const { sender, sink } = await rig(t, 1, receiver);
  const total = await feed(sink);
  await within(20_000, sender.drained(), "the queue to drain");
  assert.ok(receiver.requests.length > 10);
  assert.equal(receiver.maxInFlight(), 1);
  checkDelivery(receiver, total);
});

test("after a change of shards, the previous layout's backlog is sent first", async (t) => {
  const receiver = await startFakeReceiver({ delayMs: () => 10 });
  // A backlog left by shards: 1 (queue "prom"), older than everything the 4 shards will send.
  const backlog = (outbox: Outbox) => {
    for (let i = 0; i < 5; i++) outbox.append(TARGET, [rwBatch("old", [1000 + i])]);
  };
  const { sender, sink } = await rig(t, 4, receiver, backlog);
  const samples: Sample[] = [];
  for (let s = 0; s < SERIES; s++) samples.push({ labels: { __name__: "m", batch: s === 0 ? "old" : `new-${s}` }, value: 2000, timestamp: 2000 });
  sink.write(samples);
  sink.flush();
  await within(10_000, sender.drained(), "everything to drain");
  const old = receiver.samples().filter((s) => s.labels.batch === "old").map((s) => s.timestamp);
  assert.deepEqual(old, [1000, 1001, 1002, 1003, 1004, 2000]);
  assert.equal(receiver.samples().length, 5 + SERIES);
});
