import type { TimeSeries } from "./codec.js";

/** What the receiver said to one part: accepted, or refused with its status and error text. */
export type PartVerdict = { ok: true } | { ok: false; status: number; message: string };

export interface Refused {
  series: TimeSeries[];
  samples: number;
  status: number;
  message: string;
}

export interface SplitResult {
  /** The samples the receiver refuses, each with the answer that refused it. */
  refused: Refused[];
  /** Requests made (not counting the one that was refused whole). */
  requests: number;
  /** Samples delivered by those requests. */
  delivered: number;
}

/**
 * Refusal texts that name a per-sample cause, as receivers word them:
 * Prometheus 2.42 TSDB (and Thanos Receive, which reuses it): "out of order
 * sample", "out of bounds", "duplicate sample for timestamp", "too old
 * sample", invalid labels / UTF-8; Grafana Mimir's err-mimir-sample-* /
 * label / metric-name ids; VictoriaMetrics' "sample timestamp … too old /
 * too far in the future".
 */
const PER_SAMPLE_CAUSES = [
  /out[ -]of[ -]order/i,
  /out[ -]of[ -]bounds/i,
  /duplicate[ -]sample|duplicate[ -]timestamp/i,
  /too[ -]old/i,
  /too[ -]far[ -]in[ -](the[ -])?future/i,
  /invalid[ -](metric[ -]name|label|labels|utf-?8)|label[ -](name|value)\b[^\n]*\b(invalid|not valid|too long)|not valid utf-?8/i,
  /sample[ -]timestamp/i,
  /err-mimir-(sample|label|metric-name|max-label|missing-metric|too-far)/i,
];

/**
 * Whether a refusal is about individual samples, so that splitting the batch
 * isolates them and delivers the rest. A 4xx only when its body names a
 * per-sample cause (PER_SAMPLE_CAUSES); any other 4xx (a plain "400 bad
 * request", 401, 413 …) is about the request, which must not be sent again in
 * any form (Remote-Write 1.0: a 4xx other than 429 MUST NOT be retried), so
 * it is dead-lettered whole. A 5xx still refused after max_retry_duration is
 * split too: one poison sample (Prometheus 2.42 answers 500 for a sample
 * outside its out-of-order window) must not take its batch with it.
 */
export function refusalIsPerSample(status: number | undefined, body: string): boolean {
  if (status === undefined) return false;
  if (status >= 500) return true;
  if (status >= 400) return PER_SAMPLE_CAUSES.some((re) => re.test(body));
  return false;
}

/** One sample's place in a request: series index and sample index. */
type Slot = number;

/**
 * Only the refused samples are set aside (issue #11). Prometheus refuses a
 * whole request for one bad sample (it rolls the request back on the first
 * one), so a refused batch is split until the refused samples are isolated:
 *
 * The batch B is known to be refused. Send its first half L. Accepted: the
 * refusal is in the second half R, which is then known refused without
 * sending it. Refused: continue inside L, and set R aside for later. One
 * sample known refused is isolated. What was set aside is sent in one request
 * at the end (and split the same way if it is refused too).
 *
 * With one bad sample among n, that is ⌈log2 n⌉ requests to isolate it
 * (2,000 samples: 11) plus at most one for the rest. Samples are sent in
 * their order in the batch (per series, timestamps ascending: Remote-Write
 * 1.0 requires it), because a part is always sent after everything to its left.
 */
export async function isolateRefused(series: TimeSeries[], first: { status: number; message: string }, post: (part: TimeSeries[]) => Promise<PartVerdict>): Promise<SplitResult> {
  const result: SplitResult = { refused: [], requests: 0, delivered: 0 };
  const all: Slot[] = [];
  series.forEach((s, i) => s.samples.forEach((_, k) => all.push(i * 0x100000 + k)));
  let known = { status: first.status, message: first.message };
  let cur = all;
  const later: Slot[][] = [];
  for (;;) {
    if (cur.length === 0) break;
    if (cur.length === 1) {
      result.refused.push({ series: build(series, cur), samples: 1, ...known });
      cur = [];
    } else {
      const mid = Math.ceil(cur.length / 2);
      const left = cur.slice(0, mid);
      const right = cur.slice(mid);
      result.requests++;
      const v = await post(build(series, left));
      if (v.ok) {
        result.delivered += left.length;
        cur = right; // the refusal is here
        continue;
      }
      known = { status: v.status, message: v.message };
      later.push(right);
      cur = left;
      continue;
    }
    // Isolated one: send what was set aside (innermost parts are leftmost).
    if (later.length === 0) break;
    const rest: Slot[] = [];
    for (let i = later.length - 1; i >= 0; i--) for (const s of later[i]!) rest.push(s);
    later.length = 0;
    result.requests++;
    const v = await post(build(series, rest));
    if (v.ok) {
      result.delivered += rest.length;
      break;
    }
    known = { status: v.status, message: v.message };
    cur = rest;
  }
  return result;
}

/** The samples at `slots` (in order) as a request's series, consecutive samples of a series kept together. */
function build(series: TimeSeries[], slots: Slot[]): TimeSeries[] {
  const out: TimeSeries[] = [];
  let lastIndex = -1;
  for (const slot of slots) {
    const i = Math.floor(slot / 0x100000);
    const k = slot % 0x100000;
    const src = series[i]!;
    if (i !== lastIndex) {
      out.push({ labels: src.labels, samples: [] });
      lastIndex = i;
    }
    out[out.length - 1]!.samples.push(src.samples[k]!);
  }
  return out;
}
