import { parentPort, workerData } from "node:worker_threads";
import { ConfigError, defaultConfig, loadConfigFile } from "./load.js";
import type { Config } from "./schema.js";
import { preparseSelectors, type ParsedMatcher } from "../prom/selector.js";

/**
 * Worker side of load-isolated.ts: reads, expands, parses and validates one
 * config (zod, yaml) and posts back the plain result, or the ConfigError's
 * parts, or another error's message. With the config go its aggregation
 * rules' series selectors, parsed here: the PromQL parser then stays out of
 * the gateway's heap too.
 */
export type LoadReply =
  | { ok: true; config: unknown; selectors: Record<string, ParsedMatcher[]> }
  | { ok: false; source?: string; problems?: string[]; message: string };

const { path } = workerData as { path: string | undefined };
let reply: LoadReply;
try {
  const config: Config = path === undefined ? defaultConfig() : loadConfigFile(path);
  reply = { ok: true, config, selectors: preparseSelectors(config.aggregation.flatMap((rule) => rule.match)) };
} catch (err) {
  reply = err instanceof ConfigError ? { ok: false, source: err.source, problems: err.problems, message: err.message } : { ok: false, message: (err as Error).message };
}
parentPort!.postMessage(reply);
