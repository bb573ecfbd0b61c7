/**
 * Reads back what Prometheus holds: every raw sample of every series of one
 * metric name over a time span, with the HTTP API's range-vector query
 * (`{__name__="m"}[<span>ms]` at the span's end), so one request per metric
 * name covers all of a fleet's series.
 */
import { seriesKey, type Labels } from "../gateway/core.js";

export interface StoredSeries {
  labels: Labels;
  /** [timestamp ms, value], in timestamp order. */
  samples: [number, number][];
}

interface QueryBody {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: { metric: Labels; values?: [number, string][] }[] };
}

/** Series of `metric` holding samples in [fromMs, toMs], by seriesKey. Throws naming the URL on an HTTP or API error. */
export async function querySeries(prometheusUrl: string, metric: string, fromMs: number, toMs: number, headers: Record<string, string> = {}): Promise<Map<string, StoredSeries>> {
  const span = Math.max(1, toMs - fromMs + 1);
  // The range (t - span, t] is open on the left: span + 1 ms keeps fromMs in.
  const params = new URLSearchParams({ query: `{__name__=${JSON.stringify(metric)}}[${span}ms]`, time: (toMs / 1000).toFixed(3) });
  const url = `${prometheusUrl.replace(/\/+$/, "")}/api/v1/query`;
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", body: params, headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });
  } catch (err) {
    throw new Error(`cannot query ${url}: ${(err as Error).message}`);
  }
  let body: QueryBody;
  try {
    body = (await res.json()) as QueryBody;
  } catch {
    throw new Error(`${url} answered ${res.status} with a body that is not JSON (is this a Prometheus?)`);
  }
  if (body.status !== "success") throw new Error(`${url}: ${body.error ?? `HTTP ${res.status}`}`);
  const out = new Map<string, StoredSeries>();
  for (const r of body.data?.result ?? []) {
    const samples = (r.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)] as [number, number]);
    out.set(seriesKey(r.metric), { labels: r.metric, samples });
  }
  return out;
}
