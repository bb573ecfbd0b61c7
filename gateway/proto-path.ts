import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const cache = new Map<string, string>();

/**
 * Absolute path of `proto/<name>`. The code runs both from source
 * (`gateway/remote-write/x.ts`) and compiled (`dist/gateway/remote-write/x.js`),
 * so the depth differs: walk up from this module until a `proto/<name>` exists.
 */
export function protoFile(name: string): string {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const start = dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (;;) {
    const candidate = join(dir, "proto", name);
    if (existsSync(candidate)) {
      cache.set(name, candidate);
      return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`proto/${name} not found in any parent folder of ${start}`);
    dir = parent;
  }
}
