import { Worker } from "node:worker_threads";
import type { Config } from "./schema.js";
import { ConfigError } from "./config-error.js";
import type { LoadReply } from "./load-worker.js";
import { keepHeapSmall } from "../startup-memory.js";
import { adoptParsedSelectors } from "../prom/selector.js";

/**
 * Loads and validates the config in a short-lived worker thread, so the
 * validator (zod and the schema built with it, the YAML parser: about 8 MB of
 * resident memory) is never loaded into the gateway's own heap. A running
 * gateway needs only the result, which is plain data (strings, numbers,
 * booleans, arrays, objects: durations and sizes are already numbers), so it
 * crosses the thread boundary unchanged. The worker starts with this
 * process's environment, so `${ENV_VAR}` expansion sees the same variables.
 *
 * The worker also parses the config's series selectors (adoptParsedSelectors),
 * so compiling them here needs no PromQL parser.
 *
 * `path` undefined = the built-in defaults. Rejects with the same ConfigError
 * (source and problems naming each key) that loadConfigFile throws.
 */
export function loadConfigIsolated(path?: string): Promise<Config> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(path);
    let reply: LoadReply | undefined;
    worker.once("message", (m: LoadReply) => (reply = m));
    worker.once("error", (err) => reject(err));
    // Starting a worker thread resets V8's runtime flags; set ours again.
    worker.once("online", keepHeapSmall);
    worker.once("exit", (code) => {
      keepHeapSmall();
      if (reply === undefined) reject(new Error(`config loader exited with code ${code} without an answer`));
      else if (reply.ok) {
        adoptParsedSelectors(reply.selectors);
        resolve(reply.config as Config);
      }
      else if (reply.problems !== undefined) reject(new ConfigError(reply.source ?? path ?? "built-in defaults", reply.problems));
      else reject(new Error(reply.message));
    });
  });
}

function startWorker(path: string | undefined): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./load-worker.js", import.meta.url), { workerData: { path } });
  // Run from the TypeScript sources (tests, `npm run demo`): a worker does not inherit the
  // parent's `--import tsx`, so it registers tsx's loader before importing the .ts worker.
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const entry = JSON.stringify(new URL("./load-worker.ts", import.meta.url).href);
  return new Worker(`import(${tsx}).then((tsx) => tsx.tsImport(${entry}, ${entry}))`, { eval: true, workerData: { path } });
}
