/**
 * The delivery ledger (`--ledger FILE`): what the fleet actually got across to
 * the broker, so `device-sim verify` can prove what arrived at the far end.
 *
 * JSON Lines, one record per line, so it is streamed, appended and merged
 * (one part per worker) without holding it in memory:
 *
 *   {"type":"header","version":1,"mode":"telemetry","seed":42,"qos":1,"started_at":…}
 *   {"type":"message","vehicle":"1HG…","topic":"vehicles/1HG…/telemetry","at":…,"payload":"{…}"}
 *   {"type":"signal","vehicle":"1HG…","signal":"speed_kmh","count":60,"sum":…,"min":…,"max":…,"first_ts":…,"last_ts":…}
 *
 * A `message` is written when the broker acknowledged it (QoS 1 PUBACK) or,
 * at QoS 0, when it was written to the socket; `at` is that wall-clock time
 * (ms), which is when the gateway processed it to within the ack's round trip.
 * A protobuf payload is stored as `payload_base64`. `signal` records, written
 * at the end, summarise per vehicle and signal what those messages carried.
 * verify recomputes the expected series from the `message` records (the
 * payloads exactly as sent); the summaries are the human-readable totals.
 */
import { closeSync, createReadStream, openSync, writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { forEachSignal, readingTime, type Reading } from "./payloads.js";

export interface LedgerHeader {
  type: "header";
  version: 1;
  mode: string;
  seed: number;
  qos: 0 | 1;
  started_at: number;
}

export interface LedgerMessage {
  type: "message";
  vehicle: string;
  topic: string;
  at: number;
  payload?: string;
  payload_base64?: string;
}

export interface SignalSummary {
  type: "signal";
  vehicle: string;
  signal: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  first_ts: number;
  last_ts: number;
}

export type LedgerRecord = LedgerHeader | LedgerMessage | SignalSummary;

/** Bytes buffered before a write: one syscall per ~256 KiB keeps 10,000 msg/s cheap. */
const FLUSH_BYTES = 256 * 1024;

export class LedgerWriter {
  private fd: number | undefined;
  private chunks: string[] = [];
  private bytes = 0;
  private readonly summaries = new Map<string, SignalSummary>();
  messages = 0;

  constructor(
    readonly path: string,
    header: Omit<LedgerHeader, "type" | "version">,
  ) {
    this.fd = openSync(path, "w");
    this.line({ type: "header", version: 1, ...header });
  }

  /** Records one delivered message and the readings it carried. */
  record(vehicle: string, topic: string, at: number, payload: string | Uint8Array, readings: readonly Reading[]): void {
    const msg: LedgerMessage =
      typeof payload === "string"
        ? { type: "message", vehicle, topic, at, payload }
        : { type: "message", vehicle, topic, at, payload_base64: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("base64") };
    this.line(msg);
    this.messages++;
    for (const r of readings) {
      const ts = readingTime(r);
      forEachSignal(r, (signal, value) => {
        const key = `${vehicle}\u0000${signal}`;
        const s = this.summaries.get(key);
        if (s === undefined) {
          this.summaries.set(key, { type: "signal", vehicle, signal, count: 1, sum: value, min: value, max: value, first_ts: ts, last_ts: ts });
          return;
        }
        s.count++;
        s.sum += value;
        if (value < s.min) s.min = value;
        if (value > s.max) s.max = value;
        if (ts < s.first_ts) s.first_ts = ts;
        if (ts > s.last_ts) s.last_ts = ts;
      });
    }
  }

  flush(): void {
    if (this.fd === undefined || this.chunks.length === 0) return;
    writeSync(this.fd, this.chunks.join(""));
    this.chunks = [];
    this.bytes = 0;
  }

  /** Writes the per-signal summaries and closes the file. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    for (const s of this.summaries.values()) this.line(s);
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }

  private line(rec: LedgerRecord): void {
    const text = JSON.stringify(rec) + "\n";
    this.chunks.push(text);
    this.bytes += text.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
  }
}

/** Streams a ledger's records; throws naming the file and line of anything that is not a ledger record. */
export async function* readLedger(path: string): AsyncGenerator<LedgerRecord> {
  const rl = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
  let n = 0;
  for await (const text of rl) {
    n++;
    if (text.trim() === "") continue;
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch {
      throw new Error(`${path}:${n}: not JSON`);
    }
    const type = (rec as { type?: unknown } | null)?.type;
    if (type !== "header" && type !== "message" && type !== "signal") throw new Error(`${path}:${n}: not a ledger record (type ${JSON.stringify(type)})`);
    if (n === 1 && type !== "header") throw new Error(`${path}:1: a ledger starts with a header record`);
    yield rec as LedgerRecord;
  }
  if (n === 0) throw new Error(`${path}: empty ledger`);
}

/** Payload bytes of a message record. */
export function messagePayload(m: LedgerMessage): Uint8Array {
  if (m.payload_base64 !== undefined) return Buffer.from(m.payload_base64, "base64");
  return Buffer.from(m.payload ?? "", "utf8");
}

/** Joins worker ledgers into one: the first header, then every part's messages, then every part's summaries. */
export async function mergeLedgers(target: string, parts: readonly string[]): Promise<void> {
  const fd = openSync(target, "w");
  try {
    let header = false;
    const summaries: string[] = [];
    for (const part of parts) {
      for await (const rec of readLedger(part)) {
        if (rec.type === "header") {
          if (!header) writeSync(fd, JSON.stringify(rec) + "\n");
          header = true;
        } else if (rec.type === "message") {
          writeSync(fd, JSON.stringify(rec) + "\n");
        } else {
          summaries.push(JSON.stringify(rec) + "\n");
        }
      }
    }
    if (summaries.length > 0) writeSync(fd, summaries.join(""));
  } finally {
    closeSync(fd);
  }
}
