import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Gauge, type Registry } from "prom-client";
import { VERSION } from "../version.js";

/** The package root: above gateway/metrics/ (tsx) or dist/gateway/metrics/ (compiled; dist/ holds a copy of package.json, so no search for it). */
function packageRoot(): { root: string; fromDist: boolean } {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = (d: string, n: number): string => (n === 0 ? d : up(dirname(d), n - 1));
  const fromDist = basename(up(here, 2)) === "dist";
  return { root: up(here, fromDist ? 3 : 2), fromDist };
}

/** Resolves a ref (e.g. refs/heads/main) in a .git directory, loose or packed, without a git binary. */
function readRef(gitDir: string, ref: string): string | null {
  const loose = join(gitDir, ref);
  if (existsSync(loose)) return readFileSync(loose, "utf8").trim();
  const packed = join(gitDir, "packed-refs");
  if (!existsSync(packed)) return null;
  for (const line of readFileSync(packed, "utf8").split("\n")) {
    const [sha, name] = line.split(" ");
    if (name === ref && sha) return sha;
  }
  return null;
}

/** The commit of a git checkout at `root`, read from .git without a git binary (a linked worktree's .git is a file naming its git dir). */
export function gitRevision(root: string): string | null {
  try {
    let gitDir = join(root, ".git");
    if (!existsSync(gitDir)) return null;
    try {
      const pointer = /^gitdir: (.+)$/m.exec(readFileSync(gitDir, "utf8"));
      if (pointer?.[1]) gitDir = pointer[1].trim();
    } catch {
      // EISDIR: the usual case, .git is the git dir itself.
    }
    const head = readFileSync(join(gitDir, "HEAD"), "utf8").trim();
    const m = /^ref: (.+)$/.exec(head);
    if (!m) return /^[0-9a-f]{40}$/.test(head) ? head : null;
    let sha = readRef(gitDir, m[1]!);
    // A linked worktree keeps its HEAD locally but its branches in the common dir.
    if (sha === null && existsSync(join(gitDir, "commondir"))) {
      sha = readRef(join(gitDir, readFileSync(join(gitDir, "commondir"), "utf8").trim()), m[1]!);
    }
    return sha;
  } catch {
    return null;
  }
}

export interface BuildInfo {
  version: string;
  revision: string;
  node_version: string;
}

let cached: BuildInfo | null = null;

/**
 * version from package.json; revision from dist/build-info.json (written by
 * `npm run build`, so it travels with an install that has no .git), else from
 * the checkout's .git, else "unknown"; node_version from the running process.
 */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const { root, fromDist } = packageRoot();
  let revision: string | null = fromDist ? null : gitRevision(root);
  try {
    const written = JSON.parse(readFileSync(join(root, "dist", "build-info.json"), "utf8")) as { revision?: unknown };
    if (revision === null && typeof written.revision === "string" && written.revision !== "") revision = written.revision;
  } catch {
    /* not built, or built without git */
  }
  // Compiled code trusts its build stamp (the checkout may have moved on since); source runs read .git first.
  revision ??= gitRevision(root);
  cached = { version: VERSION, revision: revision ?? "unknown", node_version: process.version };
  return cached;
}

/** `edgegate_build_info{version,revision,node_version} 1`, as every Prometheus component exports its build. */
export function registerBuildInfo(registry: Registry): void {
  const info = buildInfo();
  const g = new Gauge({
    name: "edgegate_build_info",
    help: "A metric with a constant '1' value labelled by version, revision (git commit) and node_version from which edgegate was built.",
    labelNames: ["version", "revision", "node_version"],
    registers: [registry],
  });
  g.set({ ...info }, 1);
}
