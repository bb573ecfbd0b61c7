import type { PromLabel, TimeSeries } from "./codec.js";

/**
 * The shard of a series: FNV-1a (32 bit) of its labels — sorted by name, as
 * toTimeSeries emits them — as `name \0 value \0 …` UTF-16 code units, mod
 * `shards`. Depends on nothing but the labels, so a series always goes to the
 * same shard, whatever the batch, the flush or the process (stable across
 * restarts and versions: do not change the function, or a backlog committed
 * before the change could overtake newer data of its series).
 */
export function shardOf(labels: readonly PromLabel[], shards: number): number {
  if (shards <= 1) return 0;
  return shardHash(labels) % shards;
}

/** The hash shardOf takes mod `shards` (unsigned 32 bit), for a caller that keeps it per series. */
export function shardHash(labels: readonly PromLabel[]): number {
  let h = 0x811c9dc5;
  for (const l of labels) {
    h = fnv(h, l.name);
    h = fnv(h, l.value);
  }
  return h >>> 0;
}

function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0; // separator: a \0 code unit
  return Math.imul(h, 0x01000193);
}

/** Splits series into `shards` groups by shardOf, keeping their order within each group. */
export function splitByShard(series: readonly TimeSeries[], shards: number): TimeSeries[][] {
  const out: TimeSeries[][] = Array.from({ length: Math.max(1, shards) }, () => []);
  for (const s of series) out[shardOf(s.labels, shards)]!.push(s);
  return out;
}
