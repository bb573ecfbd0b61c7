/**
 * Why the outbox could not commit: the SQLite result code (SQLITE_FULL when the
 * disk or `max_page_count` is exhausted, SQLITE_IOERR, SQLITE_BUSY, …) and how
 * many samples were refused, so the caller counts a drop instead of crashing
 * (issue #4: disk full is survived).
 */
export class OutboxWriteError extends Error {
  constructor(
    readonly code: string,
    readonly target: string,
    readonly samples: number,
    cause: unknown,
  ) {
    super(`outbox commit failed for target ${target} (${code}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "OutboxWriteError";
  }

  /** The disk (or the file's page limit) is full: retrying after evicting may succeed, retrying as is will not. */
  get diskFull(): boolean {
    return this.code === "SQLITE_FULL";
  }
}

/** The SQLite result code of a better-sqlite3 error (`SQLITE_FULL`, …), or "unknown". */
export function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unknown";
}
