import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { TimeSeries } from "../../gateway/remote-write/codec.js";
import { isolateRefused, refusalIsPerSample, type PartVerdict } from "../../gateway/remote-write/split.js";

/** 2,000 samples over 40 series (50 each, ascending timestamps), like a full batch of a fleet. */
function batch(): TimeSeries[] {
  return Array.from({ length: 40 }, (_, i) => ({
    labels: [{ name: "__name__", value: "m" }, { name: "vin", value: `V${i}` }],
    samples: Array.from({ length: 50 }, (_, k) => ({ value: i * 1000 + k, timestamp: 1_000 + k })),
  }));
}

/** A receiver that refuses any request holding a poisoned sample (as Prometheus rolls back a request), recording what it accepted. */
function receiver(poisoned: Set<number>) {
  const accepted: { vin: string; ts: number; value: number }[] = [];
  let requests = 0;
  const post = async (part: TimeSeries[]): Promise<PartVerdict> => {
    requests++;
    for (const s of part) for (const p of s.samples) if (poisoned.has(p.value)) return { ok: false, status: 400, message: `bad sample ${p.value}` };
    for (const s of part) for (const p of s.samples) accepted.push({ vin: s.labels[1]!.value, ts: p.timestamp, value: p.value });
    return { ok: true };
  };
  return { post, accepted, requests: () => requests };
}

describe("remote-write: isolating refused samples by splitting", () => {
  for (const [where, value] of [["first", 0], ["middle", 20_025], ["last", 39_049], ["near the end", 38_001]] as const) {
    it(`one poisoned sample (${where}) among 2,000 is isolated in 12 requests (the refused one included); the other 1,999 are delivered once, in order`, async () => {
      const r = receiver(new Set([value]));
      const result = await isolateRefused(batch(), { status: 400, message: "bad" }, r.post);
      assert.equal(result.refused.length, 1);
      assert.deepEqual(result.refused[0]!.series.flatMap((s) => s.samples.map((p) => p.value)), [value]);
      assert.match(result.refused[0]!.message, /^bad/); // the answer that refused it (the batch's, when inferred)
      assert.equal(result.delivered, 1999);
      assert.equal(r.accepted.length, 1999);
      assert.equal(new Set(r.accepted.map((a) => a.value)).size, 1999, "each delivered once");
      // per series, timestamps strictly ascending across all requests (Remote-Write 1.0)
      const last = new Map<string, number>();
      for (const a of r.accepted) {
        assert.ok((last.get(a.vin) ?? -Infinity) < a.ts, `${a.vin} out of order at ${a.ts}`);
        last.set(a.vin, a.ts);
      }
      // Isolation takes ⌈log2 2000⌉ = 11 requests after the refused one (12 with it); delivering
      // what was set aside on the way costs at most one more.
      console.log(`poisoned ${where}: ${result.requests} requests after the refused one`);
      assert.ok(result.requests <= 12, `${result.requests} requests`);
    });
  }

  it("several poisoned samples are all isolated and nothing else is set aside", async () => {
    const bad = new Set([5, 17_030, 17_031, 39_000]);
    const r = receiver(bad);
    const result = await isolateRefused(batch(), { status: 400, message: "bad" }, r.post);
    assert.deepEqual(result.refused.flatMap((x) => x.series.flatMap((s) => s.samples.map((p) => p.value))).sort((a, b) => a - b), [...bad].sort((a, b) => a - b));
    assert.equal(r.accepted.length, 2000 - bad.size);
  });
});

describe("which refusals are split", () => {
  it("a 4xx whose body names a per-sample cause, as receivers word it", () => {
    for (const body of [
      "out of order sample", // Prometheus 2.42
      "out of bounds",
      "duplicate sample for timestamp",
      "too old sample",
      'invalid labels: label name "1x" is not valid',
      "invalid UTF-8 label value",
      "add 3 samples: out of order sample", // Thanos Receive
      "failed pushing to ingester: user=anonymous: the sample has been rejected because another sample with the same timestamp, but a different value, has already been ingested (err-mimir-sample-duplicate-timestamp)", // Mimir
      "err-mimir-sample-out-of-order",
      "the sample timestamp is too old", // VictoriaMetrics wording
    ]) assert.equal(refusalIsPerSample(400, body), true, body);
  });
  it("any other 4xx is about the request: dead-lettered whole, never split", () => {
    for (const [status, body] of [
      [400, "bad request"],
      [400, "refused"],
      [400, "snappy: corrupt input"],
      [401, "unauthorized"],
      [404, "404 page not found"],
      [413, "request entity too large"],
    ] as const) assert.equal(refusalIsPerSample(status, body), false, `${status} ${body}`);
  });
  it("a 5xx past max_retry_duration is split; a missing status is not", () => {
    assert.equal(refusalIsPerSample(500, "internal error"), true);
    assert.equal(refusalIsPerSample(undefined, "ECONNRESET"), false);
  });
});
