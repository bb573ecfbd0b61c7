import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SeriesInterner } from "../../gateway/pipeline/aggregate/series.js";
import type { Labels } from "../../gateway/prom/sample.js";

describe("aggregate: series interning", () => {
  it("the same label set in any order, with or without empty labels, is one series", () => {
    const interner = new SeriesInterner();
    const a = interner.intern({ __name__: "m", vin: "V1", fleet: "a" });
    assert.equal(interner.intern({ fleet: "a", __name__: "m", vin: "V1" }), a);
    assert.equal(interner.intern({ __name__: "m", vin: "V1", fleet: "a", model: "" }), a);
    assert.equal(interner.size, 1);
  });

  it("different label sets are different series", () => {
    const interner = new SeriesInterner();
    const sets: Labels[] = [
      { __name__: "m", vin: "V1" },
      { __name__: "m", vin: "V2" },
      { __name__: "m", vin: "V1", fleet: "a" },
      { __name__: "m2", vin: "V1" },
      { __name__: "m", vi: "nV1" }, // same characters, different split
      { __name__: "m", nV1: "vi" },
    ];
    const refs = new Set(sets.map((l) => interner.intern(l)));
    assert.equal(refs.size, sets.length);
    assert.equal(interner.size, sets.length);
  });

  it("the canonical key is order-independent and skips empty labels", () => {
    const interner = new SeriesInterner();
    const a = interner.intern({ vin: "V1", __name__: "m", x: "" });
    assert.equal(a.key, "__name__=1:m,vin=2:V1,"); // values length-prefixed: unambiguous without escaping
    assert.equal(interner.intern({ x: "", __name__: "m", vin: "V1" }).key, a.key);
    assert.notEqual(interner.intern({ __name__: "m", vin: "V1,x=1:a" }).key, interner.intern({ __name__: "m", vin: "V1", x: "a" }).key);
  });

  it("hash collisions are resolved by comparing labels, and release keeps the chain intact", () => {
    // Find two label sets whose 32-bit hashes collide (birthday bound: ~80k tries).
    const probe = new SeriesInterner();
    const seen = new Map<number, number>();
    let pair: [number, number] | null = null;
    for (let i = 0; pair === null && i < 2_000_000; i++) {
      const ref = probe.intern({ __name__: "m", k: String(i) });
      const j = seen.get(ref.hash);
      if (j !== undefined) pair = [j, i];
      else seen.set(ref.hash, i);
    }
    assert.ok(pair, "no collision found");
    const [i, j] = pair;

    const interner = new SeriesInterner();
    const third = { __name__: "m", k: "third" };
    const a = interner.intern({ __name__: "m", k: String(i) });
    const b = interner.intern({ __name__: "m", k: String(j) });
    assert.equal(a.hash, b.hash);
    assert.notEqual(a, b);
    assert.equal(interner.intern({ k: String(i), __name__: "m" }), a);
    assert.equal(interner.intern({ k: String(j), __name__: "m" }), b);
    const c = interner.intern(third);
    assert.equal(interner.size, 3);

    interner.release(b); // head of the chain
    assert.equal(interner.size, 2);
    assert.equal(interner.intern({ __name__: "m", k: String(i) }), a);
    const b2 = interner.intern({ __name__: "m", k: String(j) });
    assert.notEqual(b2, b); // a new reference after release
    interner.release(a); // now the tail of the chain
    assert.equal(interner.intern({ __name__: "m", k: String(j) }), b2);
    interner.release(b2);
    interner.release(c);
    assert.equal(interner.size, 0);
    interner.release(c); // releasing twice is harmless
    assert.equal(interner.size, 0);
  });

  it("keeps a copy of the labels without empty values; identity survives the value pool filling up and clearing", () => {
    const interner = new SeriesInterner();
    const input = { __name__: "m", x: "", vin: "V1", fleet: "north" };
    const a = interner.intern(input);
    assert.notEqual(a.labels, input);
    assert.deepEqual(a.labels, { __name__: "m", vin: "V1", fleet: "north" });
    const long = "L".repeat(200); // beyond the pooled length: kept as it comes
    const refs = Array.from({ length: 70_000 }, (_, i) => interner.intern({ __name__: "m", vin: `V${i}`, fleet: i % 2 ? "north" : "south", note: long }));
    for (const i of [0, 1, 65_535, 65_536, 69_999]) {
      assert.equal(interner.intern({ note: long, fleet: i % 2 ? "north" : "south", vin: `V${i}`, __name__: "m" }), refs[i]);
      assert.deepEqual(refs[i]!.labels, { __name__: "m", vin: `V${i}`, fleet: i % 2 ? "north" : "south", note: long });
    }
    assert.equal(interner.size, 70_001);
  });
});
