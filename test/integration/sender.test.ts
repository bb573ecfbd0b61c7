import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { PassThrough } from "node:stream";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import Database from "better-sqlite3";
import type { z } from "zod";
import { pino } from "pino";
import { remoteWriteSchema } from "../../gateway/config/schema-remote-write.js";
import { createMetrics, type Metrics } from "../../gateway/metrics/catalogue.js";
import { Outbox } from "../../gateway/outbox/outbox.js";
import { STALE_NAN, encodeWriteRequest, snappyCompress, toTimeSeries } from "../../gateway/remote-write/codec.js";
import { startDebugReceiver } from "../../gateway/remote-write/receiver.js";
import { Sender } from "../../gateway/remote-write/sender.js";
import { startFakeReceiver, type FakeReceiver } from "../helpers/fake-receiver.js";
import { metricValue, within } from "../helpers/sender-rig.js";

const USER_AGENT = "edgegate/0.0.0-test";
const TARGET = "test";

interface Rig {
  outbox: Outbox;
  path: string;
  metrics: Metrics;
  sender: Sender;
  logs: { level: number; msg: string }[];
}

function rig(t: TestContext, receiverUrl: string, overrides: Partial<z.input<typeof remoteWriteSchema>> = {}): Rig {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-sender-"));
  const path = join(dir, "outbox.db");
  const outbox = Outbox.open(path);
  const metrics = createMetrics();
  const logs: { level: number; msg: string }[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }) });
  const config = remoteWriteSchema.parse({
    url: receiverUrl,
    remote_timeout: "2s",
    queue_config: { max_samples_per_send: 100, min_backoff: "10ms", max_backoff: "50ms", replay_speed: 0 },
    ...overrides,
  });
  const sender = new Sender({ name: TARGET, config, outbox, metrics, log, userAgent: USER_AGENT });
  // Upstream first: the sender before the outbox it reads.
  t.after(async () => {
    await sender.close(100);
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { outbox, path, metrics, sender, logs };
}

async function receiver(t: TestContext, opts?: Parameters<typeof startFakeReceiver>[0]): Promise<FakeReceiver> {
  const r = await startFakeReceiver(opts);
  t.after(() => r.close());
  return r;
}

/** One stored batch holding samples `m{batch="<tag>"}` at the given timestamps (value = timestamp). */
function batch(tag: string, timestamps: number[]): { payload: Uint8Array; samples: number } {
  const { series } = toTimeSeries(timestamps.map((ts) => ({ labels: { __name__: "m", batch: tag }, value: ts, timestamp: ts })));
  return { payload: snappyCompress(encodeWriteRequest(series)), samples: timestamps.length };
}


async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("exact protocol headers on every request; a custom header cannot override them", async (t) => {
  const rx = await receiver(t);
  const { outbox, metrics, sender, logs } = rig(t, rx.url, {
    headers: { "content-TYPE": "text/plain", "X-Scope-OrgID": "tenant-1" },
    bearer_token: "s3cret",
  });
  sender.start();
  outbox.append(TARGET, [batch("a", [1000, 2000]), batch("b", [3000])]);
  await within(3000, sender.drained(), "drained");
  outbox.append(TARGET, [batch("c", [4000])]); // a later append wakes the idle sender
  await within(3000, sender.drained(), "drained again");

  // Rows a and b, both waiting and never attempted, go in one request (Sender.sendRun); c in another.
  assert.equal(rx.requests.length, 2);
  for (const r of rx.requests) {
    assert.equal(r.headers["content-encoding"], "snappy");
    assert.equal(r.headers["content-type"], "application/x-protobuf");
    assert.equal(r.headers["x-prometheus-remote-write-version"], "0.1.0");
    assert.equal(r.headers["user-agent"], USER_AGENT);
    assert.equal(r.headers["x-scope-orgid"], "tenant-1");
    assert.equal(r.headers["authorization"], "Bearer s3cret");
  }
  assert.deepEqual(rx.samples().map((s) => s.timestamp), [1000, 2000, 3000, 4000]);
  const warnings = logs.filter((l) => l.level === 40 && l.msg.includes("content-TYPE"));
  assert.equal(warnings.length, 1, "the refused header is logged once");
  assert.equal(await metricValue(metrics.rwSamplesSent, { target: TARGET }), 4);
  assert.equal(await metricValue(metrics.rwRequests, { target: TARGET, code: "204" }), 2);
  assert.equal(await metricValue(metrics.outboxRows, { target: TARGET }), 0);
  const st = sender.status();
  assert.equal(st.pendingRows, 0);
  assert.ok(st.lastSuccessMs !== null);
  assert.equal(st.lastError, null);
});

test("500 then 204: the same batch is retried and every sample arrives exactly once", async (t) => {
  const rx = await receiver(t, { respond: (i) => (i === 0 ? { status: 500, body: "try later" } : 204) });
  const { outbox, metrics, sender } = rig(t, rx.url);
  outbox.append(TARGET, [batch("a", [1000, 2000, 3000]), batch("b", [4000])]);
  sender.start();
  await within(3000, sender.drained(), "drained");

  assert.deepEqual(rx.requests.map((r) => r.status), [500, 204, 204]);
  assert.deepEqual(rx.samples().map((s) => s.timestamp), [1000, 2000, 3000, 4000]);
  assert.equal(outbox.depth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "status_5xx" }), 1);
  assert.equal(await metricValue(metrics.rwRequests, { target: TARGET, code: "500" }), 1);
  assert.equal(await metricValue(metrics.rwSamplesSent, { target: TARGET }), 4);
  assert.equal(sender.status().lastError?.status, 500);
});

test("400: the batch is split until the refused sample is isolated; only it is a dead letter, with the error text; the next batch is still delivered", async (t) => {
  // As Prometheus does: any request holding the bad sample (bad@2000) is refused whole.
  const rx = await receiver(t, { respond: (_i, req) => (req.series.some((s) => s.samples.some((p) => p.timestamp === 2000)) ? { status: 400, body: "out of order sample" } : 204) });
  const { outbox, path, metrics, sender } = rig(t, rx.url);
  outbox.append(TARGET, [batch("bad", [1000, 2000]), batch("good", [3000])]);
  sender.start();
  await within(3000, sender.drained(), "drained");

  // The two rows merged are refused, then sent one by one: "bad" is refused whole; its first half is
  // accepted alone, so the second half is the refused sample (issue #11); "good" is delivered.
  assert.deepEqual(rx.requests.map((r) => r.status), [400, 400, 204, 204]);
  assert.deepEqual(rx.samples().map((s) => `${s.labels.batch}@${s.timestamp}`), ["bad@1000", "good@3000"]);
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 1);
  assert.equal(outbox.deadLetterDepth(TARGET).samples, 1);
  assert.equal(await metricValue(metrics.rwDeadLettered, { target: TARGET, reason: "status_4xx" }), 1);
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "status_5xx" }), 0);
  assert.equal(await metricValue(metrics.outboxDeadLetters, { target: TARGET }), 1);
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const row = db.prepare("SELECT status, error, samples FROM dead_letters").get() as { status: string; error: string; samples: number };
  assert.deepEqual({ ...row }, { status: "400", error: "out of order sample", samples: 1 });
});

test("503 with Retry-After: 1 waits about a second before the retry", async (t) => {
  const arrivals: number[] = [];
  const rx = await receiver(t, {
    respond: (i) => {
      arrivals.push(Date.now());
      return i === 0 ? { status: 503, headers: { "Retry-After": "1" } } : 204;
    },
  });
  const { outbox, metrics, sender } = rig(t, rx.url);
  outbox.append(TARGET, [batch("a", [1000])]);
  sender.start();
  await within(4000, sender.drained(), "drained");
  assert.equal(arrivals.length, 2);
  const gap = arrivals[1]! - arrivals[0]!;
  assert.ok(gap >= 950, `retry after ${gap} ms; max_backoff alone would allow 50 ms`);
  assert.equal(rx.samples().length, 1);
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "status_5xx" }), 1);
});

test("connection refused is retried as a network error", async (t) => {
  // A port that was just free: listen on 0, note it, close it.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));

  const { outbox, metrics, sender } = rig(t, `http://127.0.0.1:${port}/api/v1/write`);
  outbox.append(TARGET, [batch("a", [1000])]);
  sender.start();
  await until(async () => (await metricValue(metrics.rwRetries, { target: TARGET, reason: "network_error" })) >= 2, 3000, "two network retries");
  assert.ok((await metricValue(metrics.rwRequests, { target: TARGET, code: "error" })) >= 2);
  assert.match(sender.status().lastError?.message ?? "", /ECONNREFUSED/);
  await within(1000, sender.close(100), "close");
  assert.equal(outbox.depth(TARGET).rows, 1, "the row is kept");
});

test("close() while backing off returns promptly and keeps the row", async (t) => {
  const rx = await receiver(t, { respond: () => 500 });
  const { outbox, metrics, sender } = rig(t, rx.url, {
    queue_config: { max_samples_per_send: 100, min_backoff: "30s", max_backoff: "60s", replay_speed: 0 },
  });
  outbox.append(TARGET, [batch("a", [1000])]);
  sender.start();
  await until(async () => (await metricValue(metrics.rwRetries, { target: TARGET, reason: "status_5xx" })) === 1, 3000, "first retry");
  const started = Date.now();
  await within(1000, sender.close(5000), "close");
  assert.ok(Date.now() - started < 500, `close took ${Date.now() - started} ms`);
  assert.equal(rx.requests.length, 1);
  const row = outbox.oldest(TARGET);
  assert.equal(row?.attempts, 1);
  assert.equal(outbox.depth(TARGET).rows, 1);
  await sender.close(5000); // idempotent
});

test("close() aborts an in-flight request at its deadline and keeps the row", async (t) => {
  const rx = await receiver(t, { delayMs: () => 10_000 });
  const { outbox, sender } = rig(t, rx.url, { remote_timeout: "30s" });
  outbox.append(TARGET, [batch("a", [1000])]);
  sender.start();
  await until(() => rx.requests.length === 1, 3000, "the request to arrive");
  const started = Date.now();
  await within(2000, sender.close(200), "close");
  const took = Date.now() - started;
  assert.ok(took >= 150 && took < 1000, `close took ${took} ms`);
  assert.equal(outbox.depth(TARGET).rows, 1);
  assert.equal(outbox.oldest(TARGET)?.attempts, 1, "the attempt is recorded before sending: after a crash mid-request the next run knows it may have been stored");
});

test("remote_timeout: a receiver that does not answer in time is retried as a timeout", async (t) => {
  const rx = await receiver(t, { delayMs: (i) => (i === 0 ? 2_000 : 0) });
  const { outbox, metrics, sender } = rig(t, rx.url, { remote_timeout: "200ms" });
  outbox.append(TARGET, [batch("a", [1000])]);
  sender.start();
  await within(3000, sender.drained(), "drained");
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "timeout" }), 1);
  assert.equal(rx.requests.length, 2);
});

test("debug receiver: prints one line per sample (stale markers as `stale`), refuses what is not snappy", async (t) => {
  let printed = "";
  const out = new PassThrough();
  out.on("data", (chunk: Buffer) => (printed += chunk.toString("utf8")));
  const rx = await startDebugReceiver({ listen: "127.0.0.1:0", out });
  t.after(() => rx.close());
  assert.match(rx.url, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write$/);

  const { outbox, sender } = rig(t, rx.url);
  const { series } = toTimeSeries([
    { labels: { __name__: "vehicle_speed_kmh:10s_by_fleet_avg", fleet: "north" }, value: 42.5, timestamp: 1700000010000 },
    { labels: { __name__: "vehicle_speed_kmh:10s_by_fleet_avg", fleet: "north" }, value: STALE_NAN, timestamp: 1700000020000 },
  ]);
  outbox.append(TARGET, [{ payload: snappyCompress(encodeWriteRequest(series)), samples: 2 }]);
  sender.start();
  await within(3000, sender.drained(), "drained");
  assert.equal(sender.status().lastError, null);
  assert.equal(
    printed,
    'vehicle_speed_kmh:10s_by_fleet_avg{fleet="north"} 42.5 @1700000010000 (2023-11-14T22:13:30.000Z)\n' +
      'vehicle_speed_kmh:10s_by_fleet_avg{fleet="north"} stale @1700000020000 (2023-11-14T22:13:40.000Z)\n',
  );

  const plain = await fetch(rx.url, { method: "POST", headers: { "Content-Type": "application/x-protobuf" }, body: new Uint8Array(encodeWriteRequest(series)) });
  assert.equal(plain.status, 415);
  assert.match(await plain.text(), /Content-Encoding must be "snappy"/);
  const garbage = await fetch(rx.url, {
    method: "POST",
    headers: { "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy" },
    body: Uint8Array.of(5, 0xff, 0xff, 0xff, 0xff, 0xff),
  });
  assert.equal(garbage.status, 400);
  assert.match(await garbage.text(), /cannot decode/);
  const other = await fetch(rx.url.replace("/api/v1/write", "/nope"), { method: "POST" });
  assert.equal(other.status, 404);
  await other.text();
});
