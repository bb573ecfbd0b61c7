import pino, { type Logger } from "pino";
import { logfmtStream } from "./logfmt.js";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export const LOG_FORMATS = ["logfmt", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The process logger. `--log.format` as Prometheus: logfmt for people, json for
 * machines. Without the flag: logfmt on a terminal, json otherwise (systemd's
 * journal, a container log driver and the tests read json).
 */
export function createLogger(level: string, format?: LogFormat, out: NodeJS.WriteStream = process.stdout): Logger {
  const fmt = format ?? (out.isTTY ? "logfmt" : "json");
  const base = { level, base: { name: "edgegate" } };
  if (fmt === "json") return out === process.stdout ? pino(base) : pino(base, out);
  return pino({ ...base, timestamp: pino.stdTimeFunctions.epochTime }, logfmtStream(out));
}
