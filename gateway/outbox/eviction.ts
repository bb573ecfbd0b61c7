import type { Database, Statement } from "better-sqlite3";

/** One eviction: rows removed from one table of one target, and why. */
export interface Eviction {
  target: string;
  reason: "evicted_size" | "evicted_age";
  table: "batches" | "dead_letters";
  rows: number;
  samples: number;
  bytes: number;
}

interface Row {
  id: number;
  target: string;
  created_ms: number;
  samples: number;
  bytes: number;
}

/** Rows examined per statement: eviction works in small steps so one pass never reads the whole table. */
const STEP = 256;

/**
 * The storage bounds (`storage.max_bytes`, `storage.max_age`), oldest first.
 * Ids are one AUTOINCREMENT sequence over all targets, so `ORDER BY id` is
 * commit order across the whole file: "oldest first" holds across targets.
 * Dead letters go before waiting batches (they are already undeliverable).
 * Rows a sender is sending right now (`leased`) are never evicted: the sender
 * would count them as sent as well as evicted.
 */
export class Evictor {
  private readonly oldest: Record<Eviction["table"], Statement<[number], Row>>;
  private readonly del: Record<Eviction["table"], Statement<[number]>>;

  constructor(private readonly db: Database) {
    this.oldest = {
      dead_letters: db.prepare(`SELECT id, target, created_ms, samples, bytes FROM dead_letters WHERE id > ? ORDER BY id LIMIT ${STEP}`),
      batches: db.prepare(`SELECT id, target, created_ms, samples, bytes FROM batches WHERE id > ? ORDER BY id LIMIT ${STEP}`),
    };
    this.del = {
      dead_letters: db.prepare("DELETE FROM dead_letters WHERE id = ?"),
      batches: db.prepare("DELETE FROM batches WHERE id = ?"),
    };
  }

  /** Removes the oldest rows until at least `excessBytes` are freed; one transaction. */
  bySize(excessBytes: number, leased: ReadonlySet<number>): Eviction[] {
    let left = excessBytes;
    return this.db.transaction(() => this.sweep("evicted_size", leased, (r) => (left > 0 ? ((left -= r.bytes), true) : null)))();
  }

  /** Removes rows committed before `cutoffMs`; stops at the first younger row (ids follow commit time). */
  byAge(cutoffMs: number, leased: ReadonlySet<number>): Eviction[] {
    return this.db.transaction(() => this.sweep("evicted_age", leased, (r) => (r.created_ms < cutoffMs ? true : null)))();
  }

  /** `take(row)`: true = evict, null = stop this table. */
  private sweep(reason: Eviction["reason"], leased: ReadonlySet<number>, take: (r: Row) => boolean | null): Eviction[] {
    const out = new Map<string, Eviction>();
    for (const table of ["dead_letters", "batches"] as const) {
      let after = 0;
      let stop = false;
      while (!stop) {
        const rows = this.oldest[table].all(after);
        if (rows.length === 0) break;
        for (const r of rows) {
          after = r.id;
          if (table === "batches" && leased.has(r.id)) continue;
          const verdict = take(r);
          if (verdict === null) {
            stop = true;
            break;
          }
          this.del[table].run(r.id);
          const key = `${table}\u0000${r.target}`;
          const e = out.get(key) ?? { target: r.target, reason, table, rows: 0, samples: 0, bytes: 0 };
          e.rows++;
          e.samples += r.samples;
          e.bytes += r.bytes;
          out.set(key, e);
        }
      }
    }
    return [...out.values()];
  }
}
