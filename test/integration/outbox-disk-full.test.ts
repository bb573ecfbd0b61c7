import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Outbox } from "../../gateway/outbox/outbox.js";
import { isFullError } from "../../gateway/outbox/space.js";

/**
 * Issue #11: SQLite needs space to free space (a DELETE writes WAL frames),
 * so the outbox must stop growing while deletes can still commit. On a real
 * 1 MiB tmpfs (mounted as root, as in CI): the outbox refuses inserts with
 * SQLITE_FULL while the file system still has room, every delivered batch can
 * then be deleted, and the freed pages take new rows. When something else
 * fills the disk to the last byte, the reserve file is given back and the
 * deletes still commit.
 */

const dir = mkdtempSync(join(tmpdir(), "edgegate-outbox-full-"));
const mnt = join(dir, "mnt");
mkdirSync(mnt);
const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]).status === 0;
const skip = mounted ? false : "cannot mount a tmpfs here (needs root, as in CI): this test needs a small real file system";

after(() => {
  if (mounted) spawnSync("umount", [mnt]);
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function cleanMount(): void {
  for (const f of ["outbox.db", "outbox.db-wal", "outbox.db-shm", "outbox.db-reserve", "filler1", "filler1-tail", "filler2", "filler2-tail"]) rmSync(join(mnt, f), { force: true });
}
before(() => {
  if (mounted) cleanMount();
});

const fsFree = () => {
  const s = statfsSync(mnt);
  return s.bavail * s.bsize;
};

/** Incompressible batches of ~6 KiB until the outbox refuses one; returns how many were stored. */
function fill(ob: Outbox): number {
  let stored = 0;
  for (let i = 0; i < 10_000; i++) {
    try {
      // As the gateway commits: in a transaction of its own, so nothing is evicted to make room.
      ob.atomically(() => ob.append("t", [{ payload: randomBytes(6000), samples: 10 }], ++n));
      stored++;
    } catch (err) {
      assert.ok(isFullError(err), `refused for lack of space, got ${String(err)}`);
      return stored;
    }
  }
  throw new Error("the outbox never filled a 1 MiB file system");
}

function drain(ob: Outbox): number {
  let deleted = 0;
  for (let b = ob.oldest("t"); b !== undefined; b = ob.oldest("t")) {
    ob.recordAttempt(b.id);
    assert.equal(ob.ack(b.id), true);
    deleted++;
  }
  return deleted;
}

test("the outbox stops growing while the file system has room for deletes; every batch can be deleted; freed pages take new rows", { skip }, () => {
  cleanMount();
  const ob = Outbox.open(join(mnt, "outbox.db"), { maintenanceIntervalMs: 0 });
  try {
    const space = ob.space!;
    assert.equal(space.makeReserve(), true);
    let fullReported = 0;
    space.onFull = () => fullReported++;
    const stored = fill(ob);
    assert.ok(stored > 20, `stored ${stored} batches`);
    // Refused by the page limit, not by the file system: the margin is still free.
    assert.ok(fsFree() >= space.plan.walPages * space.plan.pageSize, `${fsFree()} bytes free on the file system when the outbox refused`);
    assert.ok(space.room() < 6000 * 2, `room ${space.room()}`);
    assert.equal(drain(ob), stored);
    assert.equal(fullReported, 0, "no delete failed");
    assert.equal(ob.depth().rows, 0);
    assert.ok(space.room() >= stored * 6000, `room ${space.room()} after the deletes`);
    // The freed pages are reused: about as many batches fit again.
    const again = fill(ob);
    assert.ok(again >= stored - 2, `${again} batches after the drain, ${stored} before`);
  } finally {
    ob.close();
  }
});

/** Another program takes every byte that is left on the file system. */
function fillDisk(name: string): void {
  const fd = openSync(join(mnt, name), "w");
  try {
    const chunk = Buffer.alloc(4096);
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
  } finally {
    closeSync(fd);
  }
  const small = Buffer.alloc(64);
  const fd2 = openSync(join(mnt, `${name}-tail`), "w");
  try {
    for (;;) writeSync(fd2, small);
  } catch {
    // the last bytes taken too
  } finally {
    closeSync(fd2);
  }
  assert.ok(fsFree() === 0, `${fsFree()} bytes left`);
}

test("a disk filled to the last byte by someone else: deletes still commit (the WAL is reused; on a fresh start the reserve is given back); the reserve is made again when space returns", { skip }, () => {
  cleanMount();
  const path = join(mnt, "outbox.db");
  let ob = Outbox.open(path, { maintenanceIntervalMs: 0 });
  let stored: number;
  try {
    assert.equal(ob.space!.makeReserve(), true);
    stored = fill(ob);
    fillDisk("filler1");
    // Not a byte left, but the WAL was checkpointed: a delete writes over the WAL's own bytes.
    let fullReported = 0;
    ob.space!.onFull = () => fullReported++;
    for (let i = 0; i < stored / 2; i++) assert.equal(ob.ack(ob.oldest("t")!.id), true);
    assert.equal(fullReported, 0, "no delete needed new space");
  } finally {
    ob.close(); // truncates the WAL: its bytes go back to the file system...
  }
  fillDisk("filler2"); // ...and someone else takes them
  // Start on the full disk, with no WAL to write over and no WAL index (-shm): the reserve is
  // given back so that the file opens at all, and the deletes write into its bytes.
  ob = Outbox.open(path, { maintenanceIntervalMs: 0 });
  try {
    const space = ob.space!;
    assert.equal(existsSync(`${path}-reserve`), false, "the reserve was given back");
    const left = stored - Math.ceil(stored / 2);
    assert.equal(ob.depth().rows, left);
    assert.equal(drain(ob), left, "every batch deleted on the full disk");
    // Space comes back: the reserve is made again.
    unlinkSync(join(mnt, "filler1"));
    assert.equal(space.makeReserve(), true);
    assert.ok(existsSync(`${path}-reserve`));
  } finally {
    ob.close();
  }
  const reopened = Outbox.open(path, { maintenanceIntervalMs: 0 });
  assert.equal(reopened.depth().rows, 0, "the deletes were committed");
  reopened.close();
});
