#!/usr/bin/env node
// `npm test`: typecheck, check the borders between folders, then every test file under test/ with node's test runner
// (Node 20's --test does not expand globs, so the file list is built here).
// Pass a folder or files to narrow it: `npm test -- test/unit`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith(".test.ts")) {
    out.push(path);
  }
  return out;
}

const roots = process.argv.slice(2);
const files = (roots.length > 0 ? roots : ["test/unit", "test/integration", "test/e2e"]).flatMap((r) => collect(r, []));

if (roots.length === 0) {
  const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json", "--noEmit"], { stdio: "inherit" });
  if (tsc.status !== 0) {
    console.error("typecheck failed");
    process.exit(tsc.status ?? 1);
  }
  // The borders between folders (.dependency-cruiser.cjs): a forbidden import fails the run.
  const borders = spawnSync(process.execPath, ["scripts/check-borders.mjs"], { stdio: "inherit" });
  if (borders.status !== 0) {
    console.error("dependency rules violated");
    process.exit(borders.status ?? 1);
  }
}

const run = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-timeout=120000", ...files], { stdio: "inherit" });
process.exit(run.status ?? 1);
