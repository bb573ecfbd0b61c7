import { readFileSync, statSync } from "node:fs";

export interface ReloadEvents {
  /** Called after every load attempt with the number of entries now in force; `err` set means the previous data is kept. */
  onReload(err: Error | null, entries: number): void;
}

/**
 * A security file kept current, as Mosquitto re-reads its password and ACL
 * files: loaded at start (an unreadable or invalid file is then an error), then
 * re-read when its mtime, size or inode changes. Polled rather than watched,
 * which also works on bind mounts and with editors that replace the file. A
 * failed reload keeps the previous contents, so a half-written file cannot lock
 * every device out.
 */
export class WatchedFile<T> {
  private value: T | null = null;
  private stamp = "";
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly path: string,
    private readonly parse: (text: string, path: string) => T,
    private readonly entries: (value: T) => number,
    private readonly events: ReloadEvents,
    private readonly pollMs = 2000,
  ) {}

  /** First load: throws on a missing or invalid file. */
  load(): void {
    const stamp = this.currentStamp();
    this.value = this.parse(readFileSync(this.path, "utf8"), this.path);
    this.stamp = stamp;
    this.events.onReload(null, this.entries(this.value));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.reloadIfChanged(), this.pollMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Re-reads the file when it changed; returns true when a reload was attempted. */
  reloadIfChanged(): boolean {
    let stamp: string;
    try {
      stamp = this.currentStamp();
    } catch (err) {
      if (this.stamp !== "missing") this.events.onReload(err as Error, this.count());
      this.stamp = "missing";
      return true;
    }
    if (stamp === this.stamp) return false;
    this.stamp = stamp;
    try {
      this.value = this.parse(readFileSync(this.path, "utf8"), this.path);
      this.events.onReload(null, this.count());
    } catch (err) {
      this.events.onReload(err as Error, this.count());
    }
    return true;
  }

  /** The contents in force, or null before the first successful load. */
  current(): T | null {
    return this.value;
  }

  private count(): number {
    return this.value === null ? 0 : this.entries(this.value);
  }

  private currentStamp(): string {
    const st = statSync(this.path);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  }
}
