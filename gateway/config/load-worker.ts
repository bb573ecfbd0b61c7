import { parentPort, workerData } from "node:worker_threads";
import { ConfigError, defaultConfig, loadConfigFile } from "./load.js";

/**
 * Worker side of load-isolated.ts: reads, expands, parses and validates one
 * config (zod, yaml) and posts back the plain result, or the ConfigError's
 * parts, or another error's message.
 */
export type LoadReply = { ok: true; config: unknown } | { ok: false; source?: string; problems?: string[]; message: string };

const { path } = workerData as { path: string | undefined };
let reply: LoadReply;
try {
  reply = { ok: true, config: path === undefined ? defaultConfig() : loadConfigFile(path) };
} catch (err) {
  reply = err instanceof ConfigError ? { ok: false, source: err.source, problems: err.problems, message: err.message } : { ok: false, message: (err as Error).message };
}
parentPort!.postMessage(reply);
