#!/usr/bin/env node
// npm's `prepare`: build dist/ when the TypeScript compiler is installed (`npm install`,
// `npm ci`), and step aside when it is not (`npm ci --omit=dev` on a production box,
// which runs the dist/ built elsewhere — see docs/install.md). Failing here would make
// a production install impossible without the development toolchain.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  tsc = null;
}
if (tsc === null) {
  const built = existsSync("dist/gateway/main.js");
  process.stderr.write(
    built
      ? "edgegate prepare: TypeScript not installed (production install); using the dist/ already built\n"
      : "edgegate prepare: TypeScript not installed and no dist/: copy a built dist/ here (docs/install.md) before starting edgegate\n",
  );
  process.exit(0);
}
for (const [cmd, args] of [[process.execPath, [tsc, "-p", "tsconfig.build.json"]], [process.execPath, ["scripts/build-info.mjs"]]]) {
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
