import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PasswordFile, hashPassword, parseHash, parsePasswordFile, verifyHash } from "../../gateway/ingest/auth/password-file.js";

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-pw-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a file written by Debian's mosquitto_passwd verifies: $7$ (PBKDF2-SHA512) and $6$ (SHA-512) lines", async (t) => {
  const file = join(tmp(t), "devices.passwd");
  execFileSync("mosquitto_passwd", ["-c", "-b", file, "vin-A", "s3cret A"]);
  execFileSync("mosquitto_passwd", ["-H", "sha512", "-b", file, "vin-B", "pässwörd"]);
  const text = readFileSync(file, "utf8");
  assert.match(text, /^vin-A:\$7\$101\$/m);
  assert.match(text, /^vin-B:\$6\$/m);
  const users = parsePasswordFile(text, file);
  assert.equal(users.size, 2);
  assert.equal(await verifyHash(users.get("vin-A")!, Buffer.from("s3cret A")), true);
  assert.equal(await verifyHash(users.get("vin-A")!, Buffer.from("s3cret a")), false);
  assert.equal(await verifyHash(users.get("vin-B")!, Buffer.from("pässwörd")), true);
  assert.equal(await verifyHash(users.get("vin-B")!, Buffer.from("password")), false);
});

test("hashPassword writes the $7$ format mosquitto_passwd writes", async () => {
  const h = hashPassword("hunter2");
  assert.match(h, /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
  const parsed = parseHash(h);
  assert.ok(!(parsed instanceof Error));
  assert.equal(await verifyHash(parsed, Buffer.from("hunter2")), true);
  assert.equal(await verifyHash(parsed, Buffer.from("hunter3")), false);
  // Two hashes of one password differ (random salt).
  assert.notEqual(hashPassword("hunter2"), h);
});

test("bad lines are errors that name the file, line and user", () => {
  assert.throws(() => parsePasswordFile("# devices\nok:" + hashPassword("x") + "\nplain:secret\n", "f"), /f:3: user "plain": not a hashed password/);
  assert.throws(() => parsePasswordFile("a:$5$abc$def\n", "f"), /f:1: .*unknown hash type/);
  assert.throws(() => parsePasswordFile("a:$7$0$AAAA$BBBB\n", "f"), /bad iteration count/);
  assert.throws(() => parsePasswordFile("nocolon\n", "f"), /f:1: expected "user:hash"/);
});

test("PasswordFile reloads on change; a broken file keeps the previous users and is reported", async (t) => {
  const file = join(tmp(t), "p");
  writeFileSync(file, `a:${hashPassword("one")}\n`);
  const events: { err: string | null; users: number }[] = [];
  const pf = new PasswordFile(file, { onReload: (err, users) => events.push({ err: err?.message ?? null, users }) });
  pf.load();
  assert.equal(await pf.verify("a", Buffer.from("one")), true);
  assert.equal(pf.reloadIfChanged(), false, "unchanged file is not re-read");

  writeFileSync(file, `a:${hashPassword("two")}\nb:${hashPassword("bee")}\n`);
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  assert.equal(pf.reloadIfChanged(), true);
  assert.equal(await pf.verify("a", Buffer.from("one")), false, "rotated password");
  assert.equal(await pf.verify("a", Buffer.from("two")), true);
  assert.equal(await pf.verify("b", Buffer.from("bee")), true);

  writeFileSync(file, "a:garbage\n");
  utimesSync(file, new Date(), new Date(Date.now() + 10000));
  pf.reloadIfChanged();
  assert.equal(await pf.verify("a", Buffer.from("two")), true, "previous users kept");
  assert.deepEqual(events.map((e) => e.err === null), [true, true, false]);
  assert.match(events[2]!.err!, /not a hashed password/);
  assert.equal(await pf.verify("nobody", Buffer.from("x")), false);
});
