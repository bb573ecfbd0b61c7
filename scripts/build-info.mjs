#!/usr/bin/env node
// Writes dist/build-info.json after `tsc`: the git commit the build came from, so
// edgegate_build_info and --version name it even where the install has no .git
// (a copied dist/, a packed tarball, `npm ci --omit=dev` on a Pi).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";

let revision = process.env.EDGEGATE_REVISION ?? "";
if (revision === "") {
  try {
    revision = execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    revision = ""; // no git, or not a checkout: the runtime falls back to "unknown"
  }
}
mkdirSync("dist", { recursive: true });
writeFileSync("dist/build-info.json", JSON.stringify({ revision }) + "\n");
