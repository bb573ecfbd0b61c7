import { statSync } from "node:fs";
import type Database from "better-sqlite3";
import type { EnrichConfig } from "../config/schema-enrich.js";
import type { Labels } from "../prom/sample.js";
import { LABEL_NAME_RE } from "../prom/sample.js";
import { loadFile, loadSqliteTable, openSqlite, type Rows } from "./load.js";

export interface RegistryEvents {
  /** After every load attempt; `err` set when it failed (the previous data stays). */
  onReload(registry: string, err: Error | null, entries: number): void;
}

/**
 * A device registry: reference data keyed by one label (e.g. `vin` → model,
 * fleet, region), from a CSV/YAML file and/or a SQLite table.
 *
 * Reloaded without a restart by polling (a file watcher misses edits made by
 * rename-over, and polling also covers SQLite): every `reload_interval` the
 * file's mtime/size/inode is compared and the SQLite database's
 * `PRAGMA data_version` (which changes when another connection commits) is
 * checked; only a change triggers a load. A load is all-or-nothing: a failed
 * one keeps the previous data (logged and counted by the caller through
 * `onReload`). The first load happens in the constructor and throws, so a
 * gateway with a broken registry does not start.
 */
export class DeviceRegistry {
  readonly name: string;
  private data = new Map<string, Labels>();
  private fileRows: Rows = new Map();
  private sqlRows: Rows = new Map();
  private fileStamp = "";
  private db: Database.Database | null = null;
  private dbStamp = "";
  private timer: NodeJS.Timeout | null = null;
  private readonly keyField: string;

  constructor(
    private readonly config: EnrichConfig,
    private readonly events: RegistryEvents = { onReload() {} },
  ) {
    this.name = config.name;
    this.keyField = config.key_field ?? config.key_label;
    this.reload(true);
  }

  /** Labels of `key`, or undefined (a miss). The object is shared: do not modify it. */
  lookup(key: string): Labels | undefined {
    return this.data.get(key);
  }

  size(): number {
    return this.data.size;
  }

  /** Starts polling for changes (no-op with reload_interval 0). */
  start(): void {
    const ms = this.config.reload_interval;
    if (ms <= 0 || this.timer) return;
    this.timer = setInterval(() => this.reload(false), ms);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.db?.close();
    this.db = null;
  }

  /**
   * Loads whatever changed. `initial`: throw on failure instead of keeping the
   * old data. Returns true when new data was installed.
   */
  reload(initial = false): boolean {
    try {
      const fileChanged = this.refreshFile(initial);
      const sqlChanged = this.refreshSqlite(initial);
      if (!fileChanged && !sqlChanged) return false;
      this.data = this.build();
      this.events.onReload(this.name, null, this.data.size);
      return true;
    } catch (err) {
      const e = new Error(`enrich registry ${JSON.stringify(this.name)}: ${(err as Error).message}`);
      if (initial) throw e;
      // Forget the stamps so the next poll retries even if nothing changes again.
      this.fileStamp = "";
      this.dbStamp = "";
      this.events.onReload(this.name, e, this.data.size);
      return false;
    }
  }

  private refreshFile(force: boolean): boolean {
    const path = this.config.file;
    if (path === undefined) return false;
    const st = statSync(path);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (!force && stamp === this.fileStamp) return false;
    this.fileRows = loadFile(path, this.keyField, this.config.max_entries);
    this.fileStamp = stamp;
    return true;
  }

  private refreshSqlite(force: boolean): boolean {
    const sq = this.config.sqlite;
    if (sq === undefined) return false;
    const st = statSync(sq.path);
    // data_version only sees commits to the file this connection has open: reopen if it was replaced.
    const ino = String(st.ino);
    if (this.db && !this.dbStamp.startsWith(ino + ":")) {
      this.db.close();
      this.db = null;
    }
    this.db ??= openSqlite(sq.path);
    const version = this.db.pragma("data_version", { simple: true }) as number;
    const stamp = `${ino}:${version}`;
    if (!force && stamp === this.dbStamp) return false;
    this.sqlRows = loadSqliteTable(this.db, sq.table, this.keyField, this.config.max_entries);
    this.dbStamp = stamp;
    return true;
  }

  /** Merges file and SQLite rows (SQLite wins) into key → labels to add. */
  private build(): Map<string, Labels> {
    const wanted = this.config.labels;
    const out = new Map<string, Labels>();
    const seen = new Set<string>();
    for (const rows of [this.fileRows, this.sqlRows]) {
      for (const [key, rec] of rows) {
        const labels: Labels = {};
        for (const col of wanted ?? Object.keys(rec)) {
          if (col === this.keyField && wanted === undefined) continue;
          const v = rec[col];
          if (v === undefined) continue;
          seen.add(col);
          if (!LABEL_NAME_RE.test(col)) throw new Error(`column ${JSON.stringify(col)} is not a valid label name (list the label columns in \`labels\`)`);
          if (v !== "") labels[col] = v; // an empty value sets no label
        }
        out.set(key, labels);
      }
    }
    if (wanted !== undefined && out.size > 0) {
      const absent = wanted.filter((c) => !seen.has(c));
      if (absent.length > 0) throw new Error(`no row has the column(s) ${absent.join(", ")} listed in \`labels\``);
    }
    return out;
  }
}
