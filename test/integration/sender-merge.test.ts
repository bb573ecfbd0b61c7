import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeWriteRequest, snappyCompress, toTimeSeries } from "../../gateway/remote-write/codec.js";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { prometheusAvailable, startPrometheus } from "../helpers/prometheus.js";
import { TARGET, metricValue, senderRig, within } from "../helpers/sender-rig.js";

const skip = prometheusAvailable() ? false : "prometheus is not installed (CI installs Debian's package)";

/** One flush's row: `devices` series (`m{device="d<k>"}`) with one sample each at `ts`. */
function flushRow(devices: number, ts: number): { payload: Uint8Array; samples: number } {
  const { series } = toTimeSeries(Array.from({ length: devices }, (_, k) => ({ labels: { __name__: "merge_m", device: `d${k}` }, value: ts + k, timestamp: ts })));
  return { payload: snappyCompress(encodeWriteRequest(series)), samples: devices };
}

test("a backlog of small rows is sent as merged requests of at most max_samples_per_send; a real Prometheus (no out-of-order window) takes every sample in order", { skip }, async (t) => {
  const prom = await startPrometheus();
  t.after(() => prom.close());
  const { outbox, metrics, sender } = senderRig(t, prom.writeUrl, { queue_config: { max_samples_per_send: 100, replay_concurrency: 1 } });
  const start = Date.now() - 60_000;
  // An outage's backlog: 50 flushes, 20 series × 1 sample each, one second apart.
  for (let i = 0; i < 50; i++) outbox.append(TARGET, [flushRow(20, start + i * 1000)]);
  sender.start();
  await within(20_000, sender.drained(), "drained");

  assert.equal(outbox.depth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwSamplesSent, { target: TARGET }), 1000);
  // 5 rows of 20 samples per request.
  assert.equal(await metricValue(metrics.rwRequests, { target: TARGET, code: "204" }), 10);
  assert.equal(await metricValue(metrics.rwRequests, { target: TARGET }), 10);
  const raw = await prom.rawSamples("merge_m", "5m");
  assert.equal(raw.length, 20);
  for (const s of raw) {
    assert.equal(s.samples.length, 50, `series ${s.metric.device}`);
    const k = Number(s.metric.device!.slice(1));
    assert.deepEqual(
      s.samples.map(([ts, v]) => [ts, v]),
      Array.from({ length: 50 }, (_, i) => [start + i * 1000, start + i * 1000 + k]),
    );
  }
});

test("replay_concurrency 4: a backlog goes out over parallel lanes split by series; a real Prometheus (no out-of-order window) still takes every sample in order", { skip }, async (t) => {
  const prom = await startPrometheus();
  t.after(() => prom.close());
  const { outbox, metrics, sender } = senderRig(t, prom.writeUrl, { queue_config: { max_samples_per_send: 100, replay_concurrency: 4 } });
  const start = Date.now() - 60_000;
  for (let i = 0; i < 50; i++) outbox.append(TARGET, [flushRow(20, start + i * 1000)]);
  sender.start();
  await within(20_000, sender.drained(), "drained");

  assert.equal(outbox.depth(TARGET).rows, 0);
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwSamplesSent, { target: TARGET }), 1000);
  const ok = await metricValue(metrics.rwRequests, { target: TARGET, code: "204" });
  assert.equal(await metricValue(metrics.rwRequests, { target: TARGET }), ok, "every request accepted: none refused as out of order");
  // At most 100 samples per request: at least 10 requests; runs of 4 × 100 samples split over lanes.
  assert.ok(ok >= 10, `${ok} requests`);
  const raw = await prom.rawSamples("merge_m", "5m");
  assert.equal(raw.length, 20);
  for (const s of raw) {
    const k = Number(s.metric.device!.slice(1));
    assert.deepEqual(
      s.samples.map(([ts, v]) => [ts, v]),
      Array.from({ length: 50 }, (_, i) => [start + i * 1000, start + i * 1000 + k]),
      `series ${s.metric.device}`,
    );
  }
});

test("a merged request that is refused is sent again row by row: every sample arrives once, in order, and an answered refusal does not make a row 'possibly stored'", async (t) => {
  // The merged request (0) gets 503; the single rows are accepted, except that the first is refused
  // 400 "out of order" once (1): after an answered 503 that is a real refusal, not "already stored".
  const rx = await startFakeReceiver({ respond: (i) => (i === 0 ? 503 : i === 1 ? { status: 400, body: "out of order sample" } : 204) });
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url, { queue_config: { max_samples_per_send: 100 } });
  for (let i = 0; i < 3; i++) outbox.append(TARGET, [flushRow(2, 1000 + i * 1000)]);
  sender.start();
  await within(5000, sender.drained(), "drained");

  assert.deepEqual(
    rx.requests.map((r) => r.series.reduce((n, s) => n + s.samples.length, 0)),
    [6, 2, 1, 2, 2],
    "one merged request of the 3 rows, then the rows one by one (the first split to isolate its refused sample)",
  );
  assert.deepEqual(rx.requests.map((r) => r.status), [503, 400, 204, 204, 204]);
  assert.equal(await metricValue(metrics.rwResends, { target: TARGET, result: "refused_as_stored" }), 0);
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 1, "the first row, refused after an answered attempt, is a dead letter (split to its refused sample)");
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "status_5xx" }), 1);
  assert.deepEqual(rx.samples().map((s) => s.timestamp), [1000, 2000, 2000, 3000, 3000]);
});

test("a merged request left unanswered (timeout) makes its rows 'possibly stored': a 400 out of order on the resend is taken as delivered", async (t) => {
  const rx = await startFakeReceiver({ delayMs: (i) => (i === 0 ? 800 : 0), respond: (i) => (i === 1 ? { status: 400, body: "out of order sample" } : 204) });
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url, { remote_timeout: "300ms", queue_config: { max_samples_per_send: 100 } });
  for (let i = 0; i < 2; i++) outbox.append(TARGET, [flushRow(2, 1000 + i * 1000)]);
  sender.start();
  await within(5000, sender.drained(), "drained");
  assert.equal(await metricValue(metrics.rwRetries, { target: TARGET, reason: "timeout" }), 1);
  assert.equal(await metricValue(metrics.rwResends, { target: TARGET, result: "refused_as_stored" }), 1);
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
  assert.equal(outbox.depth(TARGET).rows, 0);
});

test("lanes: when one lane of a merged run is refused while another was accepted, the rows are resent one by one as 'possibly stored', and nothing is lost", async (t) => {
  const rx = await startFakeReceiver({ respond: (i) => (i === 0 ? 503 : 204) });
  t.after(() => rx.close());
  const { outbox, metrics, sender } = senderRig(t, rx.url, { queue_config: { max_samples_per_send: 10, replay_concurrency: 4, min_backoff: "10ms" } });
  // 2 rows of 8 series: one run of 16 samples (> 10) over 4 lanes (8 series spread over more than one lane).
  for (let i = 0; i < 2; i++) outbox.append(TARGET, [flushRow(8, 1000 + i * 1000)]);
  sender.start();
  await within(5000, sender.drained(), "drained");

  const first = rx.requests.filter((r) => r.series.some((s) => s.samples.length === 2));
  assert.ok(first.length >= 2, `the run went out over ${first.length} lane request(s), expected several`);
  assert.equal(rx.requests[0]!.status, 503);
  for (const r of rx.requests) assert.ok(r.series.reduce((n, s) => n + s.samples.length, 0) <= 10, "at most max_samples_per_send per request");
  assert.equal(outbox.depth(TARGET).rows, 0);
  assert.equal(outbox.deadLetterDepth(TARGET).rows, 0);
  assert.equal(await metricValue(metrics.rwResends, { target: TARGET, result: "accepted" }), 2, "both rows resent as possibly stored: a lane had been accepted");
  const got = new Set(rx.requests.filter((r) => r.status === 204).flatMap((r) => r.series.flatMap((s) => s.samples.map((x) => `${s.labels.find((l) => l.name === "device")?.value}@${x.timestamp}`))));
  assert.equal(got.size, 16, "every sample of both rows reached the receiver");
});
