import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { JsonDecoder } from "../../gateway/ingest/json-decoder.js";
import { ProtobufDecoder, encodeTelemetryBatch } from "../../gateway/ingest/protobuf-decoder.js";
import { compileTopicTemplate } from "../../gateway/ingest/topic-template.js";
import { compileExpr, ExprError } from "../../gateway/pipeline/derive/expr.js";
import { ConfigError, parseConfig } from "../../gateway/config/load.js";
import { SampleGuard, sanitizeLabelValue } from "../../gateway/ingest/sample-guard.js";
import { GuardedConnection } from "../../gateway/ingest/mqtt-connection-guard.js";
import { METRIC_NAME_RE, type Sample } from "../../gateway/prom/sample.js";

/**
 * Issue 10: every parser of device or config input, fed arbitrary input by
 * fast-check. None may throw anything but its documented error, and what
 * they emit must be sendable (finite values, integer timestamps, valid names,
 * label values that are well-formed UTF-16 without control characters).
 */

const RUNS = 300;
const OPTS = { metricPrefix: "d_", timestampField: "ts", labelFields: ["fleet", "vin"] };

/** No lone surrogate: such a string survives a UTF-8 round trip unchanged. */
const wellFormed = (s: string) => Buffer.from(s, "utf8").toString("utf8") === s;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function checkSamples(out: Sample[]): void {
  for (const s of out) {
    assert.ok(Number.isFinite(s.value), `value ${s.value}`);
    assert.ok(Number.isInteger(s.timestamp) || Number.isNaN(s.timestamp), `timestamp ${s.timestamp}`);
    assert.match(s.labels.__name__!, METRIC_NAME_RE);
  }
}

/** JSON-ish documents, including the hostile corners: huge/NaN-ish numbers, odd strings, nesting. */
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(1e300, -1e300, 32503680000000, -1, 0, Number.MAX_SAFE_INTEGER + 2, "3000-01-01T00:00:00Z", "\ud800", "a\u0000b\n\u202e"),
  fc.string({ unit: "binary", maxLength: 20 }),
);
const hostileDoc = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom("ts", "fleet", "vin", "speed", "__name__", "a.b", "9x", ""), fc.string({ maxLength: 5 })), hostileValue, { maxKeys: 8 }),
  fc.array(fc.dictionary(fc.constantFrom("ts", "fleet", "speed", "rpm"), hostileValue, { maxKeys: 4 }), { maxLength: 5 }),
  hostileValue,
);

describe("fuzz: payload decoders", () => {
  it("JsonDecoder never throws on any text and emits only sendable samples", () => {
    const dec = new JsonDecoder(OPTS);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), hostileDoc.map((d) => JSON.stringify(d) ?? "null")), (text) => {
        const out: Sample[] = [];
        let drops = 0;
        dec.decode(text, { vin: "V1" }, 1_700_000_000_000, out, (_r, n) => (drops += n));
        checkSamples(out);
        assert.ok(out.length > 0 || drops > 0, "a payload that yields nothing is counted");
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it("ProtobufDecoder never throws on any bytes", () => {
    const dec = new ProtobufDecoder(OPTS);
    const valid = fc.array(fc.record({ ts: fc.integer({ min: 0, max: 2 ** 52 }), fleet: fc.string({ maxLength: 4 }) }), { maxLength: 3 }).map((r) => {
      try {
        return encodeTelemetryBatch(r);
      } catch {
        return new Uint8Array();
      }
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), valid), (bytes) => {
        const out: Sample[] = [];
        dec.decode(bytes, { vin: "V1" }, 1_700_000_000_000, out, () => undefined);
        checkSamples(out);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});

describe("fuzz: topic templates", () => {
  const levelChar = fc.constantFrom("a", "b", "/", "+", "#", "{", "}", "x", "_", "$", "\u0000", "é");
  it("compiling throws only an Error with a message; a compiled template matches any topic without throwing", () => {
    fc.assert(
      fc.property(fc.string({ unit: levelChar, maxLength: 20 }), fc.string({ unit: levelChar, maxLength: 20 }), (template, topic) => {
        let t;
        try {
          t = compileTopicTemplate(template);
        } catch (err) {
          assert.ok(err instanceof Error && err.message.length > 0);
          return;
        }
        const values = t.match(topic);
        if (values !== null) assert.equal(values.length, t.labels.length);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});

describe("fuzz: derive expressions", () => {
  const tok = fc.constantFrom("speed", "rpm", "1", "2.5", "+", "-", "*", "/", "(", ")", "and", "or", "if", ",", "<", ">=", "==", "!", " ", "1e400", "abs", "min(", "max(", "@", "\"");
  it("the parser throws only ExprError, never a TypeError or RangeError", () => {
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 15 }).map((a) => a.join("")), fc.string({ maxLength: 30 }), (src, noise) => {
        for (const text of [src, noise]) {
          let e;
          try {
            e = compileExpr(text);
          } catch (err) {
            assert.ok(err instanceof ExprError, `${text}: ${String(err)}`);
            continue;
          }
          assert.ok(Array.isArray(e.signals));
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });
});

describe("fuzz: relabel configs", () => {
  const reChar = fc.constantFrom("(", ")", "[", "]", "*", "+", "?", "{", "}", "\\", "|", "^", "$", ".", "a", "1", "(?P<n>", "(?i)", "\\p{L}", "\\1");
  it("any regex or replacement is accepted or refused with a ConfigError naming the key", () => {
    fc.assert(
      fc.property(fc.string({ unit: reChar, maxLength: 12 }), fc.string({ maxLength: 8 }), fc.constantFrom("replace", "keep", "drop", "labelmap", "labeldrop", "hashmod", "bogus"), (regex, replacement, action) => {
        const cfg = `topics: [{topic: "v/{vin}"}]\nremote_write: [{url: "http://127.0.0.1:9/w"}]\nrelabel_configs: [{source_labels: [vin], target_label: x, action: ${action}, modulus: 2, regex: ${JSON.stringify(regex)}, replacement: ${JSON.stringify(replacement)}}]\n`;
        try {
          parseConfig(cfg, "fuzz");
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match((err as Error).message, /relabel_configs/);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: the ingest sample guard", () => {
  it("label values leave well-formed and free of control characters; clean values are untouched", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 30 }), (v) => {
        const clean = sanitizeLabelValue(v);
        assert.ok(wellFormed(clean), JSON.stringify(clean));
        assert.doesNotMatch(clean, CONTROL);
        if (wellFormed(v) && !CONTROL.test(v)) assert.equal(clean, v);
        else assert.notEqual(clean, v);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it("keeps exactly the samples inside [now - max_sample_age, now + max_future_skew] and counts the others", () => {
    const now = 1_700_000_000_000;
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double(), fc.integer({ min: now - 2e6, max: now + 2e6 })), { maxLength: 30 }), (stamps) => {
        const drops: Record<string, number> = {};
        const g = new SampleGuard({ maxFutureSkewMs: 1e6, maxSampleAgeMs: 1e6, onDrop: (r, n) => (drops[r] = (drops[r] ?? 0) + n), onReplace: () => undefined });
        const batch = g.apply(stamps.map((ts) => ({ labels: { __name__: "m" }, value: 1, timestamp: ts })), now);
        const keep = stamps.filter((ts) => Number.isInteger(ts) && ts >= now - 1e6 && ts <= now + 1e6);
        assert.deepEqual(batch.map((s) => s.timestamp), keep);
        assert.equal(Object.values(drops).reduce((a, b) => a + b, 0), stamps.length - keep.length);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: the MQTT connection guard", () => {
  /** A valid MQTT packet of `bodyLen` bytes (type PUBLISH or PINGREQ-like). */
  const packet = fc.record({ type: fc.constantFrom(0x30, 0xc0, 0x82), len: fc.integer({ min: 0, max: 300 }) }).map(({ type, len }) => {
    const rl: number[] = [];
    let n = len;
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      rl.push(b);
    } while (n > 0);
    return Buffer.concat([Buffer.from([type, ...rl]), Buffer.alloc(len, 7)]);
  });

  it("passes every byte of packets within max_packet_size, split anywhere; refuses the first larger one", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(packet, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }), async (packets, cuts) => {
        const max = 200;
        const stream = Buffer.concat(packets);
        const firstBig = packets.findIndex((p) => p.length > max);
        const transport = new PassThrough();
        const refused: string[] = [];
        const conn = new GuardedConnection(transport, { maxPacketSize: max, messageRateLimit: 0, maxQueuedBytes: 0 }, { refused: (r) => refused.push(r), rateLimited: () => undefined });
        const got: Buffer[] = [];
        conn.on("data", (c: Buffer) => got.push(c));
        conn.on("error", () => undefined);
        let at = 0;
        for (let k = 0; at < stream.length; k++) {
          const n = cuts[k % cuts.length]!;
          transport.emit("data", stream.subarray(at, at + n));
          at += n;
        }
        await new Promise((r) => setImmediate(r));
        const passed = Buffer.concat(got);
        if (firstBig < 0) {
          assert.deepEqual(refused, []);
          assert.ok(passed.equals(stream));
        } else {
          assert.deepEqual(refused, ["packet_too_large"]);
          const before = Buffer.concat(packets.slice(0, firstBig)).length;
          assert.ok(passed.length <= before + 64, "nothing of the large packet beyond the chunk that announced it");
        }
        conn.destroy();
      }),
      { numRuns: RUNS },
    );
  });
});
