import assert from "node:assert/strict";
import { test } from "node:test";
import { STALE_NAN, encodeWriteRequest, isStaleNaN, snappyCompress, toTimeSeries } from "../../gateway/remote-write/codec.js";
import { USER_AGENT } from "../../gateway/version.js";
import { startFakeReceiver, type FakeReceiver } from "../helpers/fake-receiver.js";
import { connectDevice, startTestGateway } from "../helpers/gateway-inproc.js";
import { TARGET, rwBatch, senderRig, within } from "../helpers/sender-rig.js";

/**
 * The intent of the prometheus/compliance Remote-Write 1.0 sender cases that
 * apply to a gateway, as our own tests: the whole gateway (MQTT in, pipeline,
 * SQLite outbox, sender) in front of a receiver of ours, stricter than
 * Prometheus (which sorts labels and drops empty ones on arrival and so would
 * hide those sender bugs).
 */
const TOPICS = `topics:
  - topic: "dev/{id}/t"
    metric_prefix: "m_"
    timestamp_field: "ts"
    label_fields: [zone, empty, a_label]
forward_unmatched: true
`;

function rw(url: string, queue = ""): string {
  return `remote_write:\n  - url: "${url}"\n    name: rx\n    queue_config: {min_backoff: 20ms, max_backoff: 100ms, max_samples_per_send: 7${queue}}\n`;
}

/** Publishes `n` messages per device from 3 devices, 2 signals each, timestamps 1 ms apart starting at `t0`. */
async function publish(gw: Awaited<ReturnType<typeof startTestGateway>>["gw"], t0: number, n: number): Promise<number> {
  let samples = 0;
  for (const id of ["d1", "d2", "d3"]) {
    const dev = await connectDevice(gw, id);
    for (let k = 0; k < n; k++) {
      // Label fields in unsorted order; `empty` is "" and must not be sent (spec "Labels").
      await dev.publishAsync(`dev/${id}/t`, JSON.stringify({ ts: t0 + k, zone: "z1", a_label: "x", empty: "", temp: k, volts: 12 + k / 10 }), { qos: 1 });
      samples += 2;
    }
    await dev.endAsync();
  }
  return samples;
}

function checkEveryRequest(rx: FakeReceiver, t0: number, t1: number): void {
  assert.ok(rx.requests.length > 0);
  for (const [i, r] of rx.requests.entries()) {
    // Headers exact on every request (spec "Protocol").
    assert.equal(r.headers["content-encoding"], "snappy", `request ${i}`);
    assert.equal(r.headers["content-type"], "application/x-protobuf");
    assert.equal(r.headers["x-prometheus-remote-write-version"], "0.1.0");
    assert.equal(r.headers["user-agent"], USER_AGENT);
    assert.match(USER_AGENT, /^edgegate\/\d+\.\d+\.\d+/);
    for (const s of r.series) {
      const names = s.labels.map((l) => l.name);
      assert.deepEqual(names, [...names].sort(), `labels sorted: ${names.join(",")}`);
      assert.equal(new Set(names).size, names.length, `no repeated label: ${names.join(",")}`);
      assert.ok(names.includes("__name__"), "__name__ present");
      for (const l of s.labels) {
        assert.notEqual(l.name, "", "no empty label name");
        assert.notEqual(l.value, "", `no empty value (label ${l.name})`);
      }
      for (const p of s.samples) {
        assert.ok(Number.isSafeInteger(p.timestamp), `int64 ms timestamp: ${p.timestamp}`);
        assert.ok(p.timestamp >= t0 && p.timestamp <= t1, `timestamp ${p.timestamp} within the run`);
      }
    }
  }
}

/** Per series, timestamps strictly increasing across everything received (in arrival order). */
function checkStrictlyIncreasing(rx: FakeReceiver, onlyAccepted: boolean): Map<string, number[]> {
  const bySeries = new Map<string, number[]>();
  for (const r of rx.requests) {
    if (onlyAccepted && (r.status < 200 || r.status >= 300)) continue;
    for (const s of r.series) {
      const key = s.labels.map((l) => `${l.name}=${l.value}`).join(",");
      const seen = bySeries.get(key) ?? [];
      for (const p of s.samples) {
        const last = seen[seen.length - 1];
        assert.ok(last === undefined || p.timestamp > last, `${key}: ${p.timestamp} after ${last}`);
        seen.push(p.timestamp);
      }
      bySeries.set(key, seen);
    }
  }
  return bySeries;
}

test("headers, labels (sorted, unique, no empty, __name__) and int64 ms timestamps on every request; per-series order with a receiver that sleeps at random", async (t) => {
  // The compliance case sleeps 0–5 s; 0–400 ms keeps this test short with the same effect (one request in flight, in order).
  const rx = await startFakeReceiver({ delayMs: () => Math.floor(Math.random() * 400) });
  const { gw, cleanup } = await startTestGateway(TOPICS + rw(rx.url));
  t.after(async () => {
    await cleanup();
    await rx.close();
  });
  const t0 = Date.now() - 60_000;
  const published = await publish(gw, t0, 12);
  gw.flushNow();
  await within(20_000, gw.drained(), "drained");
  checkEveryRequest(rx, t0, t0 + 12);
  const series = checkStrictlyIncreasing(rx, false);
  assert.equal([...series.values()].reduce((n, s) => n + s.length, 0), published, "every sample exactly once");
  assert.equal(series.size, 6);
  assert.ok(rx.requests.length >= 4, `several requests (max_samples_per_send 7): ${rx.requests.length}`);
  for (const key of series.keys()) assert.match(key, /^__name__=m_(temp|volts),a_label=x,id=d\d,zone=z1$/);
});

test("500 → the same samples arrive again; 400 → never again; both keep per-series order", async (t) => {
  const rx = await startFakeReceiver({ respond: (i) => (i === 0 ? { status: 500, body: "try again" } : i === 2 ? { status: 400, body: "refused" } : 204) });
  const { gw, cleanup } = await startTestGateway(TOPICS + rw(rx.url));
  t.after(async () => {
    await cleanup();
    await rx.close();
  });
  const t0 = Date.now() - 60_000;
  const published = await publish(gw, t0, 10);
  gw.flushNow();
  await within(20_000, gw.drained(), "drained");
  const [r0, r1, r2] = rx.requests;
  assert.equal(r0?.status, 500);
  assert.deepEqual(r1?.series, r0?.series, "after a 500 the same samples arrive again");
  assert.equal(r2?.status, 400);
  const first400 = JSON.stringify(r2?.series);
  for (const r of rx.requests.slice(3)) assert.notEqual(JSON.stringify(r.series), first400, "after a 400 that batch is never sent again");
  // As the compliance suite's Retries400: a plain 400 names no per-sample cause, so the request is
  // not split either: not one of its samples arrives again.
  const sampleKey = (labels: { name: string; value: string }[], ts: number) => `${JSON.stringify(labels)}@${ts}`;
  const refusedSamples = new Set(r2!.series.flatMap((s) => s.samples.map((p) => sampleKey(s.labels, p.timestamp))));
  for (const r of rx.requests.slice(3)) for (const s of r.series) for (const p of s.samples) assert.ok(!refusedSamples.has(sampleKey(s.labels, p.timestamp)), "a sample of the 400'd request arrived again");
  const accepted = checkStrictlyIncreasing(rx, true);
  const refused = r2!.series.reduce((n, s) => n + s.samples.length, 0);
  assert.equal([...accepted.values()].reduce((n, s) => n + s.length, 0), published - refused);
  assert.equal(gw.status().outbox.dead_letter_rows, 1);
});

test("stale markers are carried bit-exact through outbox, sender and codec", async (t) => {
  const rx = await startFakeReceiver();
  t.after(() => rx.close());
  const { outbox, sender } = senderRig(t, rx.url);
  const { series } = toTimeSeries([
    { labels: { __name__: "gone", vin: "V1" }, value: 3, timestamp: 1000 },
    { labels: { __name__: "gone", vin: "V1" }, value: STALE_NAN, timestamp: 2000 },
    { labels: { __name__: "nan", vin: "V1" }, value: NaN, timestamp: 2000 },
  ]);
  outbox.append(TARGET, [{ payload: snappyCompress(encodeWriteRequest(series)), samples: 3 }, rwBatch("after", [3000])]);
  sender.start();
  await within(3000, sender.drained(), "drained");
  const got = rx.samples();
  const stale = got.find((s) => s.labels.__name__ === "gone" && s.timestamp === 2000);
  assert.ok(stale !== undefined && isStaleNaN(stale.value), "the stale marker arrives as 0x7ff0000000000002");
  const plain = got.find((s) => s.labels.__name__ === "nan");
  assert.ok(plain !== undefined && Number.isNaN(plain.value) && !isStaleNaN(plain.value), "an ordinary NaN is not turned into a stale marker");
  assert.equal(got.find((s) => s.timestamp === 1000)?.value, 3);
});
