import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Sample } from "../../gateway/prom/sample.js";
import { encodeWriteRequest, snappyCompress, toTimeSeries } from "../../gateway/remote-write/codec.js";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { metricValue, senderRig, TARGET, until } from "../helpers/sender-rig.js";

/**
 * Issue #11: only refused samples are set aside. Prometheus 2.42 answers 400
 * for a whole 2,000-sample request because of ONE out-of-order sample; the
 * sender splits until that sample is isolated, dead-letters only it, and the
 * other 1,999 arrive.
 */

const skip = prometheusAvailable() ? false : "needs Debian's prometheus binary";
let prom: PrometheusHandle | undefined;

before(async () => {
  if (!skip) prom = await startPrometheus();
});
after(async () => {
  await prom?.close();
});

function batch(samples: Sample[]): { payload: Uint8Array; samples: number } {
  const { series } = toTimeSeries(samples);
  return { payload: snappyCompress(encodeWriteRequest(series)), samples: samples.length };
}

test("a 2,000-sample batch refused for one out-of-order sample: only that sample is dead-lettered", { skip, timeout: 60_000 }, async (t) => {
  const rig = senderRig(t, prom!.writeUrl);
  rig.sender.start();
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 120_000;
  // The poisoned series already holds a newer sample in Prometheus.
  rig.outbox.append(TARGET, [batch([{ labels: { __name__: "poison" }, value: 1, timestamp: t0 + 60_000 }])]);
  await until(async () => (await metricValue(rig.metrics.rwSamplesSent)) === 1, 10_000, "the first sample delivered");

  const samples: Sample[] = [];
  for (let i = 0; i < 40; i++) {
    for (let k = 0; k < 50; k++) {
      if (i === 23 && k === 17) continue;
      samples.push({ labels: { __name__: "good", vin: `V${String(i).padStart(2, "0")}` }, value: i * 1000 + k, timestamp: t0 + k * 100 });
    }
  }
  samples.push({ labels: { __name__: "poison" }, value: 2, timestamp: t0 }); // out of order: Prometheus refuses the request
  assert.equal(samples.length, 2000);
  const before = await metricValue(rig.metrics.rwRequests);
  rig.outbox.append(TARGET, [batch(samples)]);
  await until(() => rig.outbox.depth().rows === 0, 30_000, "the batch settled");
  const requests = (await metricValue(rig.metrics.rwRequests)) - before;

  assert.deepEqual(rig.outbox.deadLetterDepth(), { rows: 1, samples: 1, bytes: rig.outbox.deadLetterDepth().bytes });
  assert.equal(await metricValue(rig.metrics.rwDeadLettered, { reason: "status_4xx" }), 1);
  const good = await prom!.rawSamples('{__name__="good"}', "10m");
  assert.equal(good.reduce((n, s) => n + s.samples.length, 0), 1999, "the other 1,999 samples arrived");
  const poison = await prom!.rawSamples('{__name__="poison"}', "10m");
  assert.deepEqual(poison[0]?.samples, [[t0 + 60_000, 1]]);
  console.log(`real Prometheus 2.42: one out-of-order sample in 2,000 isolated; ${requests} requests including the refused one`);
  assert.ok(requests <= 13, `${requests} requests`);
});
