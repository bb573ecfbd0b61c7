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
