import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { BodyTooLargeError, readBody } from "./read-body.js";
import { decodeWriteRequest, isStaleNaN, snappyDecompress, type TimeSeries } from "./codec.js";
import { parseListen } from "../config/listen-address.js";

/**
 * `edgegate receive`: a Remote-Write 1.0 receiver that prints every sample it
 * gets, one line each, to see what a gateway (or any sender) really sends. It is
 * stricter than Prometheus, which sorts labels and drops empty ones on arrival
 * and so hides those sender bugs (the Remote-Write spec requires sorted,
 * unique, non-empty labels of the sender): violations are printed
 * as `# warning:` lines.
 */

export interface DebugReceiver {
  /** http://host:port/api/v1/write */
  url: string;
  close(): Promise<void>;
}

const WRITE_PATH = "/api/v1/write";
const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export async function startDebugReceiver(opts: {
  listen: string;
  out?: NodeJS.WritableStream;
  log?: Logger;
  maxBodyBytes?: number;
}): Promise<DebugReceiver> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseListen(opts.listen));
  } catch (err) {
    throw new Error(`--listen ${(err as Error).message}`);
  }
  const out = opts.out ?? process.stdout;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = opts.log;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.error({ err }, "debug receiver failed");
      if (!res.headersSent) reply(res, 500, `internal error: ${(err as Error).message}`);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== WRITE_PATH) return reply(res, 404, `not found: POST Remote-Write requests to ${WRITE_PATH}`);
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      return reply(res, 405, `method ${req.method ?? "?"} not allowed: use POST`);
    }
    const encoding = (req.headers["content-encoding"] ?? "").trim().toLowerCase();
    if (encoding !== "snappy") {
      return reply(res, 415, `Content-Encoding must be "snappy" (Remote-Write 1.0: snappy block format), got ${JSON.stringify(encoding)}`);
    }
    const type = (req.headers["content-type"] ?? "").trim().toLowerCase();
    if (!type.startsWith("application/x-protobuf")) {
      return reply(res, 415, `Content-Type must be "application/x-protobuf", got ${JSON.stringify(type)}`);
    }
    if (type.includes("io.prometheus.write.v2")) return reply(res, 415, "Remote-Write 2.0 is not supported; send 1.0 (prometheus.WriteRequest)");
    const version = req.headers["x-prometheus-remote-write-version"];
    if (version === undefined) log?.warn("request without X-Prometheus-Remote-Write-Version header");

    let body: Buffer;
    try {
      body = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return reply(res, 413, err.message);
      throw err;
    }
    let series: TimeSeries[];
    try {
      series = decodeWriteRequest(snappyDecompress(body, maxBody));
    } catch (err) {
      return reply(res, 400, `cannot decode the body (snappy-compressed prometheus.WriteRequest): ${(err as Error).message}`);
    }
    out.write(formatSeries(series));
    res.statusCode = 204;
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}${WRITE_PATH}`;
  log?.info({ url }, "debug Remote-Write receiver listening");

  let closed: Promise<void> | undefined;
  return {
    url,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function reply(res: ServerResponse, status: number, message: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.end(message + "\n");
}

/** One line per sample: `name{l="v",...} value @ms (ISO time)`, plus `# warning:` lines for spec violations. */
export function formatSeries(series: TimeSeries[]): string {
  let text = "";
  for (const ts of series) {
    let name = "";
    let labels = "";
    let prev: string | undefined;
    for (const l of ts.labels) {
      if (prev !== undefined && l.name <= prev) text += `# warning: label ${JSON.stringify(l.name)} not sorted or repeated\n`;
      if (l.value === "") text += `# warning: label ${JSON.stringify(l.name)} has an empty value\n`;
      prev = l.name;
      if (l.name === "__name__") name = l.value;
      else labels += (labels === "" ? "" : ",") + l.name + '="' + escapeValue(l.value) + '"';
    }
    if (name === "") text += "# warning: series without __name__\n";
    const head = name + "{" + labels + "}";
    let prevTs: number | undefined;
    for (const s of ts.samples) {
      if (prevTs !== undefined && s.timestamp <= prevTs) text += `# warning: ${head} timestamps not increasing\n`;
      prevTs = s.timestamp;
      text += `${head} ${formatValue(s.value)} @${s.timestamp} (${isoTime(s.timestamp)})\n`;
    }
  }
  return text;
}

function formatValue(v: number): string {
  if (isStaleNaN(v)) return "stale";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? "invalid time" : d.toISOString();
}

function escapeValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}
