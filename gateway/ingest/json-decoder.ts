import type { Labels, Sample } from "../prom/sample.js";
import { sanitizeLabelName, sanitizeMetricName, METRIC_NAME_RE } from "../prom/sample.js";
import type { DropFn } from "../metrics/drop-reasons.js";
import { decodedHashes, pairHash } from "../prom/series-hash.js";

/**
 * Turns one JSON payload into samples. A payload is an object or an array of
 * objects (a device that was offline sends its backlog in one message). Each
 * numeric or boolean field becomes a sample of `<metric_prefix><field>`;
 * nested objects flatten with `_`. Whatever cannot be mapped is counted through
 * `onDrop(reason, n)` and skipped; it never throws.
 */
export interface JsonDecoderOptions {
  metricPrefix: string;
  timestampField?: string;
  labelFields: readonly string[];
}

export type { DropFn } from "../metrics/drop-reasons.js";

/** RFC 3339 (with `T` or space, fractional seconds optional, `Z` or offset required). */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Returns epoch ms, or NaN when the value is not a usable timestamp. */
export function parseTimestamp(v: unknown): number {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? Math.trunc(v) : NaN;
  if (typeof v === "string" && RFC3339_RE.test(v)) return Date.parse(v);
  return NaN;
}

export class JsonDecoder {
  private readonly labelFieldNames: Map<string, string>;
  /** The same as `labelFieldNames`, as parallel arrays: iterating a Map allocates per message. */
  private readonly labelFields: string[];
  private readonly labelNames: string[];
  /**
   * field path → its sanitized metric name (null = invalid) and pairHash("__name__", name), so
   * names are built and hashed once per distinct field (interning).
   */
  private readonly names = new Map<string, MetricName | null>();
  /** Hash and count of the non-empty shared labels of the object being flattened (see decodedHashes); size -1: not recorded. */
  private baseHash = 0;
  private baseSize = -1;

  constructor(private readonly opts: JsonDecoderOptions) {
    // Names starting with "__" are reserved for internal use [Prometheus data model].
    this.labelFieldNames = new Map(opts.labelFields.map((f) => [f, sanitizeLabelName(f)] as [string, string]).filter(([, n]) => !n.startsWith("__")));
    this.labelFields = [...this.labelFieldNames.keys()];
    this.labelNames = [...this.labelFieldNames.values()];
  }

  /**
   * `base` holds the labels bound from the topic and static labels; they win over
   * label fields of the same name (the topic is the device's authenticated identity).
   */
  decode(payload: string, base: Labels, arrivalMs: number, out: Sample[], onDrop: DropFn): void {
    let doc: unknown;
    try {
      doc = JSON.parse(payload);
    } catch {
      onDrop("invalid_json", 1);
      return;
    }
    this.decodeDocument(doc, base, arrivalMs, out, onDrop);
  }

  /** `decode` after parsing: `doc` is an object or an array of objects, as JSON.parse returns them (the protobuf decoder hands its readings here). */
  decodeDocument(doc: unknown, base: Labels, arrivalMs: number, out: Sample[], onDrop: DropFn): void {
    if (Array.isArray(doc)) {
      if (doc.length === 0) onDrop("no_samples", 1); // an empty message is counted like any other that yields nothing
      for (const item of doc) this.decodeObject(item, base, arrivalMs, out, onDrop);
    } else {
      this.decodeObject(doc, base, arrivalMs, out, onDrop);
    }
  }

  private decodeObject(doc: unknown, base: Labels, arrivalMs: number, out: Sample[], onDrop: DropFn): void {
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      onDrop("invalid_payload", 1);
      return;
    }
    const obj = doc as Record<string, unknown>;
    let ts = arrivalMs;
    const tsField = this.opts.timestampField;
    if (tsField !== undefined && obj[tsField] !== undefined) {
      ts = parseTimestamp(obj[tsField]);
      if (Number.isNaN(ts)) {
        onDrop("invalid_timestamp", 1);
        return;
      }
    }
    const labels: Labels = {};
    const fields = this.labelFields;
    for (let i = 0; i < fields.length; i++) {
      const name = this.labelNames[i]!;
      const v = obj[fields[i]!];
      if (v === undefined || v === null) continue;
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        const s = String(v);
        if (s !== "") labels[name] = s;
      }
    }
    Object.assign(labels, base);
    // The shared labels' part of every sample's series hash, once per object (see decodedHashes).
    let hash = 0;
    let size = 0;
    for (const n in labels) {
      if (n === "__name__") {
        size = -1; // a base label named __name__ overwrites the name below: let the limiter hash these
        break;
      }
      const v = labels[n]!;
      if (v === "") continue;
      hash = (hash + pairHash(n, v)) | 0;
      size++;
    }
    this.baseHash = hash;
    this.baseSize = size;
    const start = out.length;
    this.flatten(obj, "", labels, ts, out, onDrop, 0);
    if (out.length === start) onDrop("no_samples", 1);
  }

  private flatten(obj: Record<string, unknown>, prefix: string, labels: Labels, ts: number, out: Sample[], onDrop: DropFn, depth: number): void {
    for (const key in obj) {
      if (prefix === "" && (key === this.opts.timestampField || this.labelFieldNames.has(key))) continue;
      const v = obj[key];
      const path = prefix === "" ? key : prefix + "_" + key;
      let value: number;
      if (typeof v === "number") {
        if (!Number.isFinite(v)) {
          onDrop("invalid_value", 1);
          continue;
        }
        value = v;
      } else if (typeof v === "boolean") {
        value = v ? 1 : 0;
      } else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        if (depth >= 8) onDrop("too_deeply_nested", 1);
        else this.flatten(v as Record<string, unknown>, path, labels, ts, out, onDrop, depth + 1);
        continue;
      } else {
        // strings that are not label fields, null, arrays: nothing a sample can hold.
        onDrop("non_numeric_field", 1);
        continue;
      }
      const metric = this.metricName(path);
      if (metric === null) {
        onDrop("invalid_metric_name", 1);
        continue;
      }
      // Object.assign, not `{ ...labels, __name__ }`: measured ~70 ns vs ~1.2 µs per
      // sample on Node 20 (the spread with an extra key takes a slow path), which
      // was most of the decode cost. `labels` never holds a `__`-reserved name.
      const sampleLabels = Object.assign({ __name__: metric.name }, labels);
      if (this.baseSize >= 0) decodedHashes.record(sampleLabels, (this.baseHash + metric.hash) | 0, this.baseSize + 1);
      out.push({ labels: sampleLabels, value, timestamp: ts });
    }
  }

  private metricName(path: string): MetricName | null {
    let metric = this.names.get(path);
    if (metric === undefined) {
      if (this.names.size > 10_000) this.names.clear(); // bound the cache against devices inventing field names
      const name = sanitizeMetricName(this.opts.metricPrefix + path);
      metric = METRIC_NAME_RE.test(name) ? { name, hash: pairHash("__name__", name) } : null; // null: remembered as invalid
      this.names.set(path, metric);
    }
    return metric;
  }
}

interface MetricName {
  name: string;
  hash: number;
}
