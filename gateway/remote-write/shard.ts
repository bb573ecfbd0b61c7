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
  let h = SHARD_HASH_SEED;
  for (const l of labels) {
    h = shardHashString(h, l.name);
    h = shardHashString(h, l.value);
  }
  return h >>> 0;
}

/** shardHash's start value: for a caller that hashes the labels without building PromLabel objects. */
export const SHARD_HASH_SEED = 0x811c9dc5;

/** One step of shardHash: the hash after `s` and its separator (the result `>>> 0` once all are hashed, in shardHash's order). */
export function shardHashString(h: number, s: string): number {
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
