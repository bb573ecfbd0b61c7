import { statSync, statfsSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type Database from "better-sqlite3";

/**
 * How the file system under the SQLite file is shared out (bytes), sized from
 * the file system's capacity so that a 2 MiB tmpfs and a 64 GB SD card both
 * get the same guarantee: deletes can always commit.
 */
export interface SpacePlan {
  pageSize: number;
  /** WAL pages between automatic checkpoints (`wal_autocheckpoint`): SQLite's default 1,000 on any disk of 128 MiB and more. */
  walPages: number;
  /** `journal_size_limit`: after a checkpoint the WAL file is cut back to this. */
  walLimitBytes: number;
  /** File-system space the database never grows into: room for the WAL to grow to its limit, the -shm index and slack. */
  marginBytes: number;
  /** The reserve file: given back when a write fails for lack of space anyway (the disk was filled by someone else). */
  reserveBytes: number;
  /** Room (free pages plus allowed growth) needed before acknowledging resumes after a full disk (hysteresis). */
  resumeBytes: number;
}

const KIB = 1024;
const SHM_AND_SLACK = 64 * KIB;

export function planSpace(fsTotalBytes: number, pageSize: number): SpacePlan {
  // A WAL bounded to 1/32 of the file system between checkpoints: on a small disk the default
  // (1,000 pages, 4 MiB) would let the WAL hold the whole database, and checkpointing it would
  // then need as much space again, which a full disk does not have.
  const walPages = Math.max(16, Math.min(1000, Math.floor(fsTotalBytes / 32 / pageSize)));
  const walBytes = walPages * (pageSize + 24);
  const marginBytes = 2 * walBytes + SHM_AND_SLACK;
  // The reserve covers what a disk filled by someone else leaves undone: the checkpoint of the
  // WAL's frames (at most walPages before the automatic checkpoint) and a delete's own frames.
  return { pageSize, walPages, walLimitBytes: 2 * walBytes, marginBytes, reserveBytes: walBytes + SHM_AND_SLACK, resumeBytes: marginBytes };
}

/** SQLITE_FULL (a page limit or the disk), ENOSPC from the file system, or a WAL index (-shm) that could not grow. */
export function isFullError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "SQLITE_IOERR_SHMSIZE") return true;
  return /ENOSPC|database or disk is full/i.test((err as Error | null)?.message ?? "");
}

/**
 * Keeps a full disk a state the gateway recovers from, never a dead end.
 *
 * Why this is needed: SQLite needs space to free space. In WAL mode a DELETE
 * writes the changed pages as new frames at the end of the WAL, and the WAL
 * only starts again from its beginning after a checkpoint has copied every
 * frame into the database file — which needs file-system space for every page
 * the database grew by since the last checkpoint. Freed pages stay inside the
 * database file (its free list, reused by later inserts), they never go back
 * to the file system. So with SQLite's defaults a small disk fills up with a
 * WAL that holds most of the data, the checkpoint cannot complete, the
 * deletes of delivered batches cannot commit, and the outbox never drains.
 *
 * What this does:
 * - The database only grows into the file system minus a margin:
 *   `max_page_count` is set (and recomputed, `govern`) to the pages the file
 *   has plus what the file system can give beyond the margin and the reserve.
 *   An insert past it fails with SQLITE_FULL while the file system still has
 *   the margin, so the WAL frames of a delete and the pages a checkpoint adds
 *   to the file always find room. Deletes need no new page, so the limit never
 *   refuses them.
 * - The WAL is bounded (`wal_autocheckpoint`, `journal_size_limit`, sized by
 *   `planSpace`) and never truncated while running: after each checkpoint the
 *   next commit writes over the WAL's existing bytes, so a delete needs no new
 *   file-system space at all.
 * - A reserve file (`<path>-reserve`) backs this up when something else fills
 *   the disk: it is given back when a write fails for lack of space, and made
 *   again before acknowledging resumes; the limit leaves its bytes free while
 *   it is given back, so it can always be made again.
 */
export class StorageSpace {
  readonly plan: SpacePlan;
  /** Told when a write to this file failed for lack of space (after room was made): the gateway's disk-full state. */
  onFull: ((err: unknown, what: string) => void) | null = null;
  private readonly dir: string;
  private readonly reservePath: string;
  private limitPages = -1;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
  ) {
    this.dir = dirname(resolve(path));
    this.reservePath = `${path}-reserve`;
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const fs = statfsSync(this.dir);
    this.plan = planSpace(fs.blocks * fs.bsize, pageSize);
    db.pragma(`wal_autocheckpoint = ${this.plan.walPages}`);
    db.pragma(`journal_size_limit = ${this.plan.walLimitBytes}`);
  }

  /** Recomputes the database's page limit from the free file-system space; cheap (a statfs, a stat, three pragmas). */
  govern(): void {
    try {
      const { pageSize } = this.plan;
      const fs = statfsSync(this.dir);
      const free = fs.bavail * fs.bsize;
      const keep = this.plan.marginBytes + (this.hasReserve() ? 0 : this.plan.reserveBytes);
      const filePages = Math.floor(fileSize(this.path) / pageSize);
      const pages = this.db.pragma("page_count", { simple: true }) as number;
      const limit = Math.max(pages, filePages + Math.floor((free - keep) / pageSize));
      if (limit !== this.limitPages) this.limitPages = this.db.pragma(`max_page_count = ${limit}`, { simple: true }) as number;
    } catch {
      // statfs failed or the database is closed: keep the last limit.
    }
  }

  /** The page limit set by the last govern() (-1 before the first): other connections to the file apply it too. */
  pageLimit(): number {
    return this.limitPages;
  }

  /** Bytes inserts can still take: free pages inside the file plus the growth the limit allows. */
  room(): number {
    this.govern();
    try {
      const pages = this.db.pragma("page_count", { simple: true }) as number;
      const freePages = this.db.pragma("freelist_count", { simple: true }) as number;
      return (Math.max(0, this.limitPages - pages) + freePages) * this.plan.pageSize;
    } catch {
      return 0;
    }
  }

  /** Free bytes of the file system itself. */
  fsFree(): number {
    try {
      const fs = statfsSync(this.dir);
      return fs.bavail * fs.bsize;
    } catch {
      return 0;
    }
  }

  hasReserve(): boolean {
    return fileSize(this.reservePath) >= this.plan.reserveBytes;
  }

  /** Makes the reserve file when it is missing; false when the file system has not the room. */
  makeReserve(): boolean {
    if (this.hasReserve()) return true;
    try {
      writeFileSync(this.reservePath, Buffer.alloc(this.plan.reserveBytes));
      this.govern();
      return true;
    } catch {
      this.releaseReserve(); // a partial reserve would only take space
      return false;
    }
  }

  /**
   * A write failed for lack of space: give the reserve back and checkpoint
   * (so the WAL starts again from its beginning), then report it. The caller
   * may retry its write once.
   */
  full(err: unknown, what: string): void {
    this.makeRoom();
    this.onFull?.(err, what);
  }

  /** Gives the reserve back and checkpoints: what `full` does, without reporting. */
  makeRoom(): void {
    this.releaseReserve();
    this.checkpoint();
    this.govern();
  }

  /**
   * Copies the WAL into the database file so the next commit writes over the
   * WAL's own bytes. PASSIVE, never TRUNCATE while running: a truncated WAL
   * gives its bytes to whoever writes next, and the next delete would need
   * them back.
   */
  checkpoint(): void {
    try {
      this.db.pragma("wal_checkpoint(PASSIVE)");
    } catch {
      // Not possible now (e.g. the pages it adds to the file do not fit): tried again on the next tick.
    }
  }

  private releaseReserve(): void {
    releaseReserveFile(this.path);
  }
}

/** Deletes `<path>-reserve`; false when there was none (e.g. the run that was killed gave it back). */
export function releaseReserveFile(path: string): boolean {
  try {
    unlinkSync(`${path}-reserve`);
    return true;
  } catch {
    return false;
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
