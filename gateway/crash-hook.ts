/**
 * TEST-ONLY crash points for the crash-point tests: with
 * `EDGEGATE_CRASH_AT=<point>` (and optionally `EDGEGATE_CRASH_AFTER=<n>`, the
 * n-th time the point is reached, default 1) the process kills itself with
 * SIGKILL at that instant — a `kill -9` at a chosen place instead of a random
 * one. Points: `mid_group_commit` (journal rows written, transaction not
 * committed; reached on the journal's writer thread, whose SIGKILL ends the
 * whole process, or on the main thread for a group committed there),
 * `after_journal_commit` (committed — reported by the writer thread — not
 * processed, no PUBACK sent), `mid_outbox_commit` (outbox rows and checkpoint written, not
 * committed), `after_outbox_commit` (committed, not yet booked in memory),
 * `during_replay` (part of the journal replayed at start),
 * `mid_checkpoint_blob` (a checkpoint's blob written on the writer thread, not
 * committed), `after_checkpoint_blob` (blob committed, the checkpoint row that
 * refers to it and the tick's outbox rows not). Unset in
 * production: the check is one comparison with null.
 */
const point = process.env["EDGEGATE_CRASH_AT"] ?? null;
let remaining = Number(process.env["EDGEGATE_CRASH_AFTER"] ?? "1");

export function crashPoint(name: string): void {
  if (point === null || point !== name) return;
  if (--remaining > 0) return;
  process.kill(process.pid, "SIGKILL");
}

export const crashHooksEnabled = point !== null;
