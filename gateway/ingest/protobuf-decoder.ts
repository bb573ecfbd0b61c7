import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type * as protobuf from "protobufjs";
import type { Labels, Sample } from "../prom/sample.js";
import { protoFile } from "../proto-path.js";
import { JsonDecoder, type DropFn, type JsonDecoderOptions } from "./json-decoder.js";

/**
 * Decodes edgegate's compact telemetry payload (`proto/telemetry.proto`,
 * `edgegate.telemetry.v1.TelemetryBatch`) for topic rules with
 * `format: protobuf`.
 *
 * A topic rule's keys must mean the same for protobuf as for JSON
 * (metric_prefix, timestamp_field, label_fields), so each reading is turned
 * into the plain object its JSON twin would be (field names as written in the
 * .proto, absent fields absent, int64 as numbers) and handed to the JSON
 * decoder's object walk (no JSON text in between). Sharing that code is what
 * keeps the two formats from drifting. A NaN or infinite double, which JSON
 * cannot carry, is counted as reason="invalid_value".
 */

// Parsed on first use, not at import: a gateway with no `format: protobuf` topic never pays for the
// schema, nor for protobufjs itself (required synchronously with it).
// keepCase: field names stay snake_case as in the .proto (protobufjs camelCases them by default).
let telemetryBatch: protobuf.Type | undefined;
function TelemetryBatchType(): protobuf.Type {
  telemetryBatch ??= (createRequire(import.meta.url)("protobufjs") as typeof protobuf).parse(readFileSync(protoFile("telemetry.proto"), "utf8"), { keepCase: true }).root.lookupType("edgegate.telemetry.v1.TelemetryBatch");
  return telemetryBatch;
}

/** int64 → JS number: epoch milliseconds fit in 2^53 for the next 285,000 years. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: String, defaults: false, oneofs: false };

export class ProtobufDecoder {
  private readonly json: JsonDecoder;

  private readonly type: protobuf.Type;

  constructor(opts: JsonDecoderOptions) {
    this.json = new JsonDecoder(opts);
    this.type = TelemetryBatchType();
  }

  /** Same contract as JsonDecoder.decode: appends samples to `out`, reports what it cannot map to `onDrop`, never throws. */
  decode(payload: Uint8Array, base: Labels, arrivalMs: number, out: Sample[], onDrop: DropFn): void {
    let readings: unknown;
    try {
      readings = this.type.toObject(this.type.decode(payload), TO_OBJECT).readings;
    } catch {
      onDrop("invalid_protobuf", 1);
      return;
    }
    if (!Array.isArray(readings) || readings.length === 0) {
      onDrop("no_samples", 1);
      return;
    }
    this.json.decodeDocument(readings, base, arrivalMs, out, onDrop);
  }
}

/** Encodes readings (plain objects shaped like the JSON telemetry object) as one TelemetryBatch; device-sim's encoder. */
export function encodeTelemetryBatch(readings: readonly object[]): Uint8Array {
  const type = TelemetryBatchType();
  return type.encode(type.fromObject({ readings })).finish();
}
