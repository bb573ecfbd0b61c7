import { generateMessages } from "../../device-sim/fleet.js";
import type { PrometheusHandle } from "./prometheus.js";

/**
 * What device-sim published, per vehicle, as comparable tuples, and checks of
 * what Prometheus holds against it. A live fleet stamps `ts` with the wall
 * clock, but its k-th message of a vehicle carries exactly the values of
 * `generateMessages`' k-th message for that vehicle (same seed), so the check
 * is per vehicle and in order: Prometheus's samples joined by timestamp into
 * one tuple per message, compared with the expected tuple sequence.
 */

/** The payload's signals as the gateway names them (topic rule metric_prefix "vehicle_"), booleans as 0/1. */
export function signals(payload: Record<string, unknown>, prefix = "vehicle_"): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (obj: Record<string, unknown>, path: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (k === "ts") continue;
      const name = path === "" ? k : `${path}_${k}`;
      if (typeof v === "number") out.set(prefix + name, v);
      else if (typeof v === "boolean") out.set(prefix + name, v ? 1 : 0);
      else if (v !== null && typeof v === "object") walk(v as Record<string, unknown>, name);
    }
  };
  walk(payload, "");
  return out;
}

/** Per VIN, the first `perVehicle` messages' signals, serialised so tuples compare as strings. */
export function expectedTuples(opts: { vehicles: number; intervalMs: number; seed: number; perVehicle: number }): Map<string, string[]> {
  const msgs = generateMessages({ vehicles: opts.vehicles, intervalMs: opts.intervalMs, seed: opts.seed, count: opts.vehicles * opts.perVehicle, startMs: 0 });
  const out = new Map<string, string[]>();
  for (const m of msgs) {
    const list = out.get(m.vin) ?? [];
    list.push(tupleKey(signals(m.payload as unknown as Record<string, unknown>)));
    out.set(m.vin, list);
  }
  return out;
}

function tupleKey(s: Map<string, number>): string {
  return [...s.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(" ");
}

/** Per VIN, Prometheus's samples joined by timestamp into one tuple per message, in time order. */
export async function tuplesInPrometheus(prom: PrometheusHandle, vins: string[]): Promise<Map<string, string[]>> {
  const series = await prom.rawSamples(`{__name__=~"vehicle_.+", vin=~"${vins.join("|")}"}`, "30m");
  const byVin = new Map<string, Map<number, Map<string, number>>>();
  for (const s of series) {
    const vin = s.metric.vin!;
    const at = byVin.get(vin) ?? new Map<number, Map<string, number>>();
    for (const [ts, v] of s.samples) {
      const tuple = at.get(ts) ?? new Map<string, number>();
      if (tuple.has(s.metric.__name__!)) throw new Error(`${vin} ${s.metric.__name__} has two samples at ${ts}`);
      tuple.set(s.metric.__name__!, v);
      at.set(ts, tuple);
    }
    byVin.set(vin, at);
  }
  const out = new Map<string, string[]>();
  for (const [vin, at] of byVin) out.set(vin, [...at.entries()].sort(([a], [b]) => a - b).map(([, t]) => tupleKey(t)));
  return out;
}

/**
 * Compares per VIN. Every tuple in Prometheus must be an expected one, in
 * order, once (a subsequence of the expected list); returns how many messages
 * are present and how many expected ones are missing before the last present
 * one (lost in the middle) — exact delivery is present = published, lost = 0.
 */
export function compareTuples(expected: Map<string, string[]>, actual: Map<string, string[]>): { present: number; lostInside: number; problems: string[] } {
  let present = 0;
  let lostInside = 0;
  const problems: string[] = [];
  for (const [vin, got] of actual) {
    const want = expected.get(vin);
    if (want === undefined) {
      problems.push(`unexpected vehicle ${vin}`);
      continue;
    }
    let j = 0;
    for (const [i, tuple] of got.entries()) {
      const start = j;
      while (j < want.length && want[j] !== tuple) j++;
      if (j === want.length) {
        problems.push(`${vin}: message ${i} in Prometheus (${tuple.slice(0, 80)}…) is not the next expected one`);
        break;
      }
      lostInside += j - start;
      j++;
      present++;
    }
  }
  return { present, lostInside, problems };
}

/** Sum of a metric's samples in Prometheus text format whose labels contain all of `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const ls = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
