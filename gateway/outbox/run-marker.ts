import type { Database } from "better-sqlite3";

/** What `Outbox.open` found about the previous run of the file. */
export interface StartInfo {
  /** The previous run did not reach `close()`: kill -9, a crash or a power cut. */
  unclean: boolean;
  /** pid and start time (ms) the previous run recorded, when unclean. */
  previous: { pid: number; startedMs: number } | null;
  /** Result of `PRAGMA quick_check` after an unclean run ("ok", or SQLite's list of problems); null after a clean one. */
  integrity: string | null;
}

/**
 * The "running" marker: `meta.run_state` is set to `running <pid> <ms>` in a
 * committed transaction at open and to `stopped` at close, so a file found in
 * `running` state was not closed: the previous process was killed or lost
 * power. WAL recovery needs nothing from us (SQLite replays the committed
 * frames on open); `quick_check` then verifies the b-trees, which costs a read
 * of the file and so runs only after an unclean stop.
 */
export function markRunning(db: Database): StartInfo {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'run_state'").get() as { value: string } | undefined;
  let info: StartInfo = { unclean: false, previous: null, integrity: null };
  const m = row === undefined ? null : /^running (\d+) (\d+)$/.exec(row.value);
  if (m !== null) {
    const rows = db.pragma("quick_check") as { quick_check: string }[];
    info = {
      unclean: true,
      previous: { pid: Number(m[1]), startedMs: Number(m[2]) },
      integrity: rows.map((r) => r.quick_check).join("; "),
    };
  }
  try {
    db.prepare("INSERT INTO meta (key, value) VALUES ('run_state', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(
      `running ${process.pid} ${Date.now()}`,
    );
  } catch (err) {
    // A full disk must not stop the gateway from starting (it still delivers, which frees space);
    // the marker keeps the previous run's state, so the next start errs on the unclean side.
    if ((err as { code?: unknown }).code !== "SQLITE_FULL") throw err;
  }
  return info;
}

/** Marks a clean stop and truncates the WAL (a clean file is one self-contained .db). */
export function markStopped(db: Database): void {
  db.prepare("UPDATE meta SET value = 'stopped' WHERE key = 'run_state'").run();
  db.pragma("wal_checkpoint(TRUNCATE)");
}

/** The recorded state without changing it (for `edgegate outbox status`). */
export function readRunState(db: Database): { running: boolean; pid: number | null; startedMs: number | null } {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'run_state'").get() as { value: string } | undefined;
  const m = row === undefined ? null : /^running (\d+) (\d+)$/.exec(row.value);
  return m === null ? { running: false, pid: null, startedMs: null } : { running: true, pid: Number(m[1]), startedMs: Number(m[2]) };
}
