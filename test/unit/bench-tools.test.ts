import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTools } from "../../bench/tools.js";

// `npm run bench` checks a section's external programs before it starts, naming the Debian package.
test("requireTools names each missing program with its package, and passes when all are on the PATH", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-bench-tools-"));
  const saved = process.env.PATH;
  try {
    writeFileSync(join(dir, "present-tool"), "#!/bin/sh\n");
    chmodSync(join(dir, "present-tool"), 0o755);
    writeFileSync(join(dir, "not-executable"), "");
    process.env.PATH = dir;
    assert.doesNotThrow(() => requireTools({ "present-tool": "pkg-a" }));
    assert.throws(
      () => requireTools({ "present-tool": "pkg-a", "absent-tool": "pkg-b", "not-executable": "pkg-c" }),
      (err: Error) =>
        /absent-tool \(Debian package pkg-b\)/.test(err.message) &&
        /not-executable \(Debian package pkg-c\)/.test(err.message) &&
        !/present-tool/.test(err.message) &&
        /apt-get install pkg-b pkg-c$/.test(err.message),
    );
  } finally {
    process.env.PATH = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
