import { Writable } from "node:stream";

/**
 * A pino destination that writes logfmt (`ts=… level=info msg="…" key=value`),
 * the format Prometheus and its exporters log in by default, readable on a
 * terminal and still parseable by Loki or `grep`. pino writes one JSON line per
 * record; this turns it into one logfmt line. (pino-pretty is a development
 * tool with colours and multi-line output, not a production log format.)
 */
const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
const SKIP = new Set(["level", "time", "msg", "pid", "hostname", "v"]);

function quote(s: string): string {
  return s === "" || /[\s"=\\]|[^\x21-\x7e]/.test(s) ? JSON.stringify(s) : s;
}

function value(v: unknown): string {
  if (typeof v === "string") return quote(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  if (typeof v === "object" && v !== null && "message" in v && typeof (v as { message: unknown }).message === "string") {
    return quote((v as { message: string }).message); // pino's serialised err: the message is what a reader needs
  }
  return quote(JSON.stringify(v));
}

export function logfmtLine(record: Record<string, unknown>): string {
  const t = record.time;
  const parts = [`ts=${typeof t === "number" ? new Date(t).toISOString() : quote(String(t ?? new Date().toISOString()))}`];
  parts.push(`level=${LEVELS[record.level as number] ?? String(record.level)}`);
  for (const [k, v] of Object.entries(record)) {
    if (SKIP.has(k) || v === undefined) continue;
    if (k === "name" && v === "edgegate") continue;
    parts.push(`${k}=${value(v)}`);
  }
  // msg last keeps the columns before it aligned for the eye, as go-kit's logfmt does with caller/level first.
  if (record.msg !== undefined) parts.splice(2, 0, `msg=${quote(String(record.msg))}`);
  return parts.join(" ") + "\n";
}

export function logfmtStream(out: NodeJS.WritableStream = process.stdout): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line === "") continue;
        try {
          out.write(logfmtLine(JSON.parse(line) as Record<string, unknown>));
        } catch {
          out.write(line + "\n");
        }
      }
      cb();
    },
  });
}
