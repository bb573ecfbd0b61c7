import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SeriesHashes, decodedHashes, labelsHash, seriesHashes } from "../../gateway/prom/series-hash.js";
import { JsonDecoder } from "../../gateway/ingest/json-decoder.js";
import { LimitsStage } from "../../gateway/pipeline/limits.js";
import { limitsSchema } from "../../gateway/config/schema-limits.js";
import { SeriesInterner } from "../../gateway/pipeline/aggregate/series.js";
import type { Labels, Sample } from "../../gateway/prom/sample.js";

const labels = (i: number): Labels => ({ __name__: "speed", vin: `v${i}`, fleet: i % 2 ? "north" : "south" });

describe("series hash hand-over from the limiter to the aggregation", () => {
  it("finds a recorded object by identity only: at its index, then in batch order past gaps; a new batch forgets the old one", () => {
    const h = new SeriesHashes();
    const ls = Array.from({ length: 20 }, (_, i) => labels(i));
    h.begin();
    ls.forEach((l, i) => h.record(l, 1000 + i, 3));
    assert.equal(h.find(labels(0), 0), false, "an equal but different object is not taken");
    assert.ok(h.find(ls[0]!, 0));
    assert.deepEqual([h.hash, h.size], [1000, 3]);
    // The reader's batch lost samples 1 and 2 (dropped by the limiter): sample 3 is the reader's 1.
    assert.ok(h.find(ls[3]!, 1));
    assert.equal(h.hash, 1003);
    assert.ok(h.find(ls[4]!, 2));
    assert.equal(h.hash, 1004);
    h.begin();
    assert.equal(h.find(ls[5]!, 5), false, "records of an earlier batch are not searched");
  });

  it("the interner keys a series the limiter hashed exactly as one it hashes itself", () => {
    const limits = new LimitsStage(limitsSchema.parse({ max_series: 100 }), () => {});
    const interner = new SeriesInterner();
    const batch: Sample[] = Array.from({ length: 10 }, (_, i) => ({ labels: labels(i), value: i, timestamp: 1000 }));
    const out = limits.process(batch, 1000);
    assert.equal(out, batch);
    const refs = out.map((s, i) => interner.intern(s.labels, i));
    // Fresh objects (no hand-over): the same series must be found, so the handed-over hash is the interner's own.
    seriesHashes.begin();
    for (let i = 0; i < 10; i++) {
      const fresh = { ...labels(i) };
      assert.equal(seriesHashes.find(fresh, i), false);
      assert.equal(interner.intern(fresh, i), refs[i], `series ${i}`);
    }
    assert.equal(interner.size, 10);
    // Label order and empty values do not matter either way.
    const reordered: Labels = { fleet: "south", extra: "", vin: "v0", __name__: "speed" };
    limits.process([{ labels: reordered, value: 1, timestamp: 2000 }], 2000);
    assert.equal(interner.intern(reordered, 0), refs[0]);
  });
});

describe("series hash hand-over from the JSON decoder to the limiter", () => {
  const decodeRecorded = (decoder: JsonDecoder, payload: string, base: Labels): Sample[] => {
    const out: Sample[] = [];
    decodedHashes.begin();
    decoder.decode(payload, base, 1_700_000_000_000, out, () => {});
    return out;
  };

  it("records for every decoded sample exactly the hash and size computed from its labels (generated payloads)", () => {
    const value = fc.oneof(fc.constantFrom("", "north", "ev-van-1", "ü", "a\u0000b"), fc.string({ maxLength: 6 }), fc.integer(), fc.boolean(), fc.constant(null));
    const reading = fc.dictionary(fc.constantFrom("speed", "rpm", "fuel", "ok", "9bad", "x-y"), fc.oneof(fc.double({ noNaN: true }), fc.boolean(), fc.dictionary(fc.constantFrom("lat", "lon"), fc.double({ noNaN: true }))));
    const doc = fc.record({ fleet: value, model: value, ts: fc.constant(1_700_000_000_000), r: reading }).map(({ r, ...rest }) => ({ ...rest, ...r }));
    const base = fc.dictionary(fc.constantFrom("vin", "fleet", "site", "__name__"), fc.constantFrom("", "V1", "depot-7"));
    fc.assert(
      fc.property(fc.oneof(doc, fc.array(doc, { maxLength: 4 })), base, (payload, baseLabels) => {
        const decoder = new JsonDecoder({ metricPrefix: "vehicle_", timestampField: "ts", labelFields: ["fleet", "model"] });
        const out = decodeRecorded(decoder, JSON.stringify(payload), baseLabels);
        for (let i = 0; i < out.length; i++) {
          const s = out[i]!;
          if (!decodedHashes.find(s.labels, i)) {
            // Only a base label named __name__ (overwritten by the decoder's name) turns the hand-over off.
            assert.ok("__name__" in baseLabels, `sample ${i} of ${JSON.stringify(payload)} was not recorded`);
            continue;
          }
          const size = Object.values(s.labels).filter((v) => v !== "").length;
          assert.deepEqual([decodedHashes.hash, decodedHashes.size], [labelsHash(s.labels), size], JSON.stringify(s.labels));
        }
      }),
      { numRuns: 400 },
    );
  });

  it("a decoded sample and an equal label set that was not decoded are one series in the limiter", () => {
    const decoder = new JsonDecoder({ metricPrefix: "vehicle_", labelFields: ["fleet", "model"] });
    const limits = new LimitsStage(limitsSchema.parse({ max_series: 3 }), () => {});
    const decoded = decodeRecorded(decoder, '{"fleet":"north","model":"van","speed":1,"rpm":2,"fuel":3}', { vin: "V1" });
    assert.equal(limits.process(decoded, 1000).length, 3);
    assert.equal(limits.activeSeries(), 3);
    // Fresh objects, another label order, an empty label: no hand-over, the limiter hashes them itself.
    decodedHashes.begin();
    const fresh: Sample[] = decoded.map((s) => ({ labels: { model: "van", empty: "", ...s.labels }, value: 0, timestamp: 2000 }));
    assert.equal(limits.process(fresh, 2000).length, 3, "the same three series: none refused as a fourth");
    // And the other way round: decoded again after the limiter met the series un-decoded.
    const again = decodeRecorded(decoder, '{"speed":4,"model":"van","fleet":"north","fuel":5,"rpm":6}', { vin: "V1" });
    assert.equal(limits.process(again, 3000).length, 3);
    assert.equal(limits.activeSeries(), 3);
    const other = decodeRecorded(decoder, '{"fleet":"south","model":"van","speed":1}', { vin: "V1" });
    assert.equal(limits.process(other, 3000).length, 0, "a fourth series is over max_series");
  });
});
