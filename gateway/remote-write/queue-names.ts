/**
 * Remote-Write's outbox queue names. The outbox stores opaque named queues;
 * remote-write decides their names and how they group per target. A target
 * with `queue_config.shards: 1` has one queue named after the target; with
 * `shards: N > 1`, queue `<target>#<k>/<N>` holds shard k of N. `#` cannot
 * occur in a target name (a configured name is `[a-zA-Z0-9_.-]+`, a default
 * one is a URL host), so a queue's target is what precedes the first `#`. N is
 * part of the name so that a queue written under another layout is recognised
 * as such (its series may map to other shards now) and drained before the new
 * layout sends (target-sender.ts).
 *
 * `queueTarget` is the grouping the composition root hands to the outbox
 * (`Outbox.open({ group })`, `OutboxAdmin.open(path, { group })`), so that
 * per-target depth, dead-letter figures and the `edgegate outbox` CLI see a
 * target's queues as one.
 */
export const SHARD_SEPARATOR = "#";

export function queueName(target: string, shard: number, shards: number): string {
  return shards <= 1 ? target : `${target}${SHARD_SEPARATOR}${shard}/${shards}`;
}

/** The queue names of one layout, shard 0 first. */
export function queueNames(target: string, shards: number): string[] {
  const n = Math.max(1, shards);
  return Array.from({ length: n }, (_, k) => queueName(target, k, n));
}

/** The target a queue belongs to. */
export function queueTarget(queue: string): string {
  const i = queue.indexOf(SHARD_SEPARATOR);
  return i < 0 ? queue : queue.slice(0, i);
}
