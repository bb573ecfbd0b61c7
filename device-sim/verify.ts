/**
 * `device-sim verify`: did what the fleet sent arrive in Prometheus, through
 * the configured pipeline? For every series the ledger implies
 * (verify-expected.ts), compare with what Prometheus holds over the same
 * span:
 *
 * - raw (forwarded) series must match exactly: the same timestamps and the
 *   same float64 values (Prometheus prints floats in their shortest
 *   round-trip form, so the text parses back to the identical double);
 * - aggregated series must have the same windows with values equal to a
 *   relative 1e-9 (a sum may be added up in a different order).
 *
 * Polls until everything matches or `waitMs` passes (windows are emitted
 * `allowed_lateness` after they end, and senders need a moment), then reports.
 */
import type { Config } from "../gateway/core.js";
import { recompute, type Expected, type ExpectedSeries, type SeriesKind } from "./verify-expected.js";
import { querySeries, type StoredSeries } from "./verify-prometheus.js";

export interface VerifyOptions {
  ledger: string;
  prometheusUrl: string;
  config: Config;
  /** Keep re-querying mismatching series for this long (default 0: one pass). */
  waitMs?: number;
  relTolerance?: number;
  log?: (line: string) => void;
}

export interface SeriesResult {
  series: string;
  kind: SeriesKind;
  ok: boolean;
  expected: number;
  arrived: number;
  /** Why it failed (empty when ok). */
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  results: SeriesResult[];
  expected: Expected;
  warnings: string[];
}

export function formatSeries(labels: Record<string, string>): string {
  const name = labels.__name__ ?? "";
  const rest = Object.keys(labels)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${rest.join(",")}}`;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function compare(e: ExpectedSeries, got: StoredSeries | undefined, tol: number): SeriesResult {
  const base = { series: formatSeries(e.labels), kind: e.kind, expected: e.samples.length };
  const have = got?.samples ?? [];
  const byTs = new Map(have);
  let missing = 0;
  let differ = 0;
  let firstProblem = "";
  for (const [ts, want] of e.samples) {
    const v = byTs.get(ts);
    byTs.delete(ts);
    const same = v !== undefined && (e.kind === "raw" ? v === want || (Number.isNaN(v) && Number.isNaN(want)) : Math.abs(v - want) <= tol * Math.max(1, Math.abs(want)));
    if (same) continue;
    if (v === undefined) missing++;
    else differ++;
    firstProblem ||= v === undefined ? `first missing at ${iso(ts)} (value ${want})` : `first difference at ${iso(ts)}: sent ${want}, stored ${v}`;
  }
  const extra = byTs.size;
  if (extra > 0) firstProblem ||= `first extra at ${iso([...byTs.keys()][0]!)}`;
  const ok = missing === 0 && differ === 0 && extra === 0;
  const detail = ok ? "" : `${missing} missing, ${differ} different, ${extra} unexpected; ${firstProblem}`;
  return { ...base, ok, arrived: have.length, detail };
}

export async function verify(o: VerifyOptions): Promise<VerifyResult> {
  const expected = await recompute(o.ledger, o.config);
  const warnings: string[] = [];
  o.config.topics.forEach((t, i) => {
    if (t.timestamp_field === undefined) {
      warnings.push(`topics[${i}] (${t.topic}) has no timestamp_field: the gateway stamps samples on arrival, which verify can only approximate by the acknowledgement time`);
    }
  });
  if (expected.messages === 0) warnings.push("the ledger holds no delivered message");

  const byName = new Map<string, ExpectedSeries[]>();
  for (const e of expected.series.values()) {
    const name = e.labels.__name__ ?? "";
    const list = byName.get(name) ?? [];
    list.push(e);
    byName.set(name, list);
  }
  const results = new Map<string, SeriesResult>();
  const deadline = Date.now() + (o.waitMs ?? 0);
  let pending = [...byName.keys()];
  for (;;) {
    const again: string[] = [];
    for (const name of pending) {
      const list = byName.get(name)!;
      let from = Infinity;
      let to = -Infinity;
      for (const e of list) {
        from = Math.min(from, e.samples[0]![0]);
        to = Math.max(to, e.samples[e.samples.length - 1]![0]);
      }
      const stored = await querySeries(o.prometheusUrl, name, from, to);
      let allOk = true;
      for (const e of list) {
        const r = compare(e, stored.get(e.key), o.relTolerance ?? 1e-9);
        results.set(e.key, r);
        allOk &&= r.ok;
      }
      if (!allOk) again.push(name);
    }
    if (again.length === 0 || Date.now() >= deadline) break;
    o.log?.(`verify: ${again.length} metric(s) do not match yet; retrying until the --wait deadline`);
    pending = again;
    await new Promise((r) => setTimeout(r, Math.min(2_000, Math.max(0, deadline - Date.now()))));
  }
  const list = [...results.values()].sort((a, b) => Number(a.ok) - Number(b.ok) || a.series.localeCompare(b.series));
  return { ok: expected.messages > 0 && list.every((r) => r.ok), results: list, expected, warnings };
}

/** The per-series report: failures first, then a summary line. */
export function formatReport(r: VerifyResult, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  for (const s of r.results) {
    if (s.ok && !opts.verbose) continue;
    lines.push(`${s.ok ? "ok  " : "FAIL"} ${s.kind.padEnd(10)} ${s.series}  sent ${s.expected}, stored ${s.arrived}${s.ok ? "" : `: ${s.detail}`}`);
  }
  const failed = r.results.filter((s) => !s.ok).length;
  const raw = r.results.filter((s) => s.kind === "raw").length;
  const drops = [...r.expected.drops].map(([k, n]) => `${k}=${n}`).join(" ");
  lines.push(
    `verify: ${r.ok ? "OK" : "FAILED"}  ledger: ${r.expected.messages} messages from ${r.expected.vehicles} vehicles  ` +
      `series: ${r.results.length} (${raw} raw, ${r.results.length - raw} aggregated), ${failed} failed` +
      (drops ? `  dropped by the pipeline by design: ${drops}` : ""),
  );
  return lines.join("\n");
}
