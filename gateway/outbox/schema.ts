import type { Database } from "better-sqlite3";

/** Bump when the tables change; `migrate` refuses a file written by a newer edgegate. */
export const SCHEMA_VERSION = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  target     TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  samples    INTEGER NOT NULL,
  bytes      INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  payload    BLOB NOT NULL
);
-- FIFO per target: oldest(target) is an index seek, not a scan.
CREATE INDEX IF NOT EXISTS batches_target_id ON batches (target, id);
CREATE TABLE IF NOT EXISTS dead_letters (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  target     TEXT NOT NULL,
  batch_id   INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  dead_ms    INTEGER NOT NULL,
  samples    INTEGER NOT NULL,
  bytes      INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  status     TEXT NOT NULL,
  error      TEXT NOT NULL,
  payload    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_target_id ON dead_letters (target, id);
`;

/**
 * Creates the tables on a new file and checks the version of an existing one.
 * AUTOINCREMENT (not plain rowid) so an id is never reused after the newest row
 * is acknowledged: ids stay a strict FIFO order across restarts.
 */
export function migrate(db: Database, path: string): void {
  db.transaction(() => {
    db.exec(DDL);
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    if (row === undefined) {
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    } else if (Number(row.value) !== SCHEMA_VERSION) {
      throw new Error(
        `outbox ${path} has schema version ${row.value}; this edgegate understands version ${SCHEMA_VERSION} (storage.path)`,
      );
    }
  }).immediate();
}

export type Totals = { rows: number; bytes: number; samples: number };

/** Rows, payload bytes and samples per target of one table (a scan without reading payloads). */
export function readTotals(db: Database, table: "batches" | "dead_letters"): Map<string, Totals> {
  type Sum = { target: string; rows: number; bytes: number | null; samples: number | null };
  const m = new Map<string, Totals>();
  for (const r of db.prepare(`SELECT target, count(*) AS rows, sum(bytes) AS bytes, sum(samples) AS samples FROM ${table} GROUP BY target`).all() as Sum[]) {
    m.set(r.target, { rows: r.rows, bytes: r.bytes ?? 0, samples: r.samples ?? 0 });
  }
  return m;
}

/**
 * Other connections write this file too (the pipeline's checkpoints every few
 * seconds), so `PRAGMA data_version` alone would make the outbox rescan its
 * tables on every checkpoint. Changes to the queues from outside (the
 * `edgegate outbox` CLI) bump this counter in the same transaction instead.
 */
export function bumpAdminGeneration(db: Database): void {
  db.prepare("INSERT INTO meta (key, value) VALUES ('admin_generation', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1").run();
}

export function readAdminGeneration(db: Database): string {
  return (db.prepare("SELECT value FROM meta WHERE key = 'admin_generation'").get() as { value: string } | undefined)?.value ?? "0";
}
