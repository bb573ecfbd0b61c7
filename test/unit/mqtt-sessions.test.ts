import { test } from "node:test";
import assert from "node:assert/strict";
import { PersistentSessions } from "../../gateway/ingest/mqtt-sessions.js";

function rig(expiration: number, maxSessions: number) {
  let now = 1_000_000;
  const removed: string[] = [];
  const reasons: string[] = [];
  let level = -1;
  const s = new PersistentSessions(
    { expiration, maxSessions },
    { remove: (id) => removed.push(id), removed: (r) => reasons.push(r), level: (n) => (level = n) },
    () => now,
  );
  return { s, removed, reasons, level: () => level, advance: (ms: number) => (now += ms) };
}

test("the cap removes the session offline the longest, never a connected one", () => {
  const r = rig(0, 2);
  r.s.connected("a", false);
  r.s.connected("b", false);
  r.s.connected("c", false); // all online: over the cap, nothing removable yet
  assert.equal(r.level(), 3);
  assert.deepEqual(r.removed, []);
  r.s.disconnected("b", false); // the first to go offline is removed at once
  assert.deepEqual(r.removed, ["b"]);
  r.s.disconnected("a", false);
  r.s.disconnected("c", false);
  r.s.connected("d", false); // a went offline before c: a goes
  assert.deepEqual(r.removed, ["b", "a"]);
  assert.deepEqual(r.reasons, ["max_persistent_sessions", "max_persistent_sessions"]);
  assert.equal(r.level(), 2);
  r.s.connected("c", false); // resuming is not a new session
  assert.deepEqual(r.removed, ["b", "a"]);
  r.s.close();
});

test("clean sessions are not counted; a clean connect ends a stored session", () => {
  const r = rig(0, 0);
  r.s.connected("x", true);
  r.s.disconnected("x", true);
  assert.equal(r.level(), 0);
  r.s.connected("y", false);
  r.s.disconnected("y", false);
  assert.equal(r.level(), 1);
  r.s.connected("y", true);
  assert.equal(r.level(), 0);
  r.s.close();
});

test("sweep removes only offline sessions past the expiration", () => {
  const r = rig(60_000, 0);
  r.s.connected("old", false);
  r.s.disconnected("old", false);
  r.advance(30_000);
  r.s.connected("new", false);
  r.s.disconnected("new", false);
  r.s.connected("live", false);
  r.advance(31_000);
  r.s.sweep();
  assert.deepEqual(r.removed, ["old"]);
  assert.deepEqual(r.reasons, ["expired"]);
  r.advance(10 * 60_000);
  r.s.sweep();
  assert.deepEqual(r.removed, ["old", "new"]);
  assert.equal(r.level(), 1);
  r.s.close();
});
