import type { Labels, Sample } from "../../gateway/prom/sample.js";
import { isStaleNaN } from "../../gateway/remote-write/codec.js";

/** A sample named `name` with `labels`. */
export function sample(name: string, labels: Record<string, string>, value: number, timestamp: number): Sample {
  return { labels: { __name__: name, ...labels }, value, timestamp };
}

/** `name{a="1",b="2"} value @ts` per sample (stale markers as STALE), sorted, for order-free comparisons. */
export function formatSamples(samples: Sample[]): string[] {
  const text = (l: Labels) => {
    const { __name__, ...rest } = l;
    return `${__name__}{${Object.keys(rest).sort().map((k) => `${k}="${rest[k]}"`).join(",")}}`;
  };
  return samples.map((x) => `${text(x.labels)} ${isStaleNaN(x.value) ? "STALE" : x.value} @${x.timestamp}`).sort();
}
