import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTools } from "../../bench/tools.js";
import { cpuCeiling, type IngestRun } from "../../bench/ingest.js";

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

// The ingest section's CPU ceiling: 2 cores hold (gateway + publishers) CPU per message at most this often.
test("cpuCeiling: the rate 2 cores allow at the measured CPU costs, and the gateway cost at which a target ratio just fits", () => {
  const run = (msgsPerS: number, cpu: number, pub: number): IngestRun => ({ msgsPerS, cpuMsPer100kSamples: cpu, publisherCpuMsPer100kSamples: pub, lost: 0, droppedSamples: 0 });
  // Bare: 100k msg/s (1M samples/s); publishers 50 ms per 100k samples. A gateway at 200 ms + 50 ms fills
  // 2,000 ms of CPU per second at 80k msg/s: exactly 0.8x, and 200 ms is what 0.8x needs.
  const c = cpuCeiling({ bare: run(100_000, 55, 50), gateway: run(30_000, 200, 50) }, 0.8);
  assert.ok(Math.abs(c.ceilingRatio - 0.8) < 1e-9, String(c.ceilingRatio));
  assert.ok(Math.abs(c.neededCpuMsPer100k - 200) < 1e-9, String(c.neededCpuMsPer100k));
  // Twice the gateway's cost: (400 + 50) ms per 100k samples, 2,000 ms/s -> 44,444 msg/s.
  const d = cpuCeiling({ bare: run(100_000, 55, 50), gateway: run(30_000, 400, 50) }, 0.8);
  assert.ok(Math.abs(d.ceilingRatio - 2000 / 450 / 1e-4 / 100_000) < 1e-9, String(d.ceilingRatio));
});
