/**
 * How readings become MQTT payloads in each `--mode`:
 *
 * | mode           | one message carries                                            |
 * | -------------- | -------------------------------------------------------------- |
 * | `telemetry`    | one JSON telemetry object; a backlog replay, a JSON array       |
 * | `batch`        | a JSON array of `batchSize` readings (more on a replay)         |
 * | `protobuf`     | `edgegate.telemetry.v1.TelemetryBatch` (proto/telemetry.proto)  |
 * | `flink-events` | one Flink-demo event object, always one per message            |
 * | `flink-batch`  | a JSON array of up to `batchSize` Flink-demo events of one vehicle |
 */
import { encodeTelemetryBatch } from "../gateway/core.js";
import type { FlinkEvent } from "./flink-events.js";
import type { TelemetryPayload } from "./vehicle.js";

export const MODES = ["telemetry", "batch", "protobuf", "flink-events", "flink-batch"] as const;
export type PayloadMode = (typeof MODES)[number];

/** The modes that publish the Flink demo's event stream (fleet/<region>/<id>/events). */
export function isFlinkMode(mode: PayloadMode): mode is "flink-events" | "flink-batch" {
  return mode === "flink-events" || mode === "flink-batch";
}

/** One reading: a telemetry object (its `ts`) or a Flink event (its `timestamp`). */
export type Reading = TelemetryPayload | FlinkEvent;

export function readingTime(r: Reading): number {
  return "ts" in r ? r.ts : r.timestamp;
}

export function encodeReadings(mode: PayloadMode, readings: readonly Reading[]): string | Uint8Array {
  if (readings.length === 0) throw new RangeError("encodeReadings: no readings");
  switch (mode) {
    case "protobuf":
      return encodeTelemetryBatch(readings);
    case "batch":
      return JSON.stringify(readings);
    case "flink-events":
      if (readings.length !== 1) throw new RangeError("flink-events: one event per message");
      return JSON.stringify(readings[0]);
    case "flink-batch":
      // Always an array, even of one event: the gateway's JSON decoder takes each element as one reading.
      return JSON.stringify(readings);
    case "telemetry":
      return JSON.stringify(readings.length === 1 ? readings[0] : readings);
  }
}

/**
 * The numeric signals of a reading, as (signal, value) pairs: for telemetry the
 * numeric and boolean fields flattened with `_` (what the gateway makes samples
 * of, minus the prefix), for a Flink event its `measurement` under its event type.
 */
export function forEachSignal(r: Reading, fn: (signal: string, value: number) => void): void {
  if ("eventType" in r) {
    fn(r.eventType, r.measurement);
    return;
  }
  walk(r as Record<string, unknown>, "", fn);
}

function walk(obj: Record<string, unknown>, prefix: string, fn: (signal: string, value: number) => void): void {
  for (const key in obj) {
    if (prefix === "" && key === "ts") continue;
    const v = obj[key];
    const path = prefix === "" ? key : `${prefix}_${key}`;
    if (typeof v === "number") fn(path, v);
    else if (typeof v === "boolean") fn(path, v ? 1 : 0);
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) walk(v as Record<string, unknown>, path, fn);
  }
}
