import { z } from "zod";
import { duration } from "./schema-common.js";

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };
const BYTES_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** `512MiB`, `1GB`, `1048576`: bytes as a number, or undefined when not a size. 0 means "no bound". */
export function parseByteSize(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const m = BYTES_RE.exec(text.trim());
  const unit = BYTE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (m === null || unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

/** A size in bytes, written `512MiB`, `2GB` or as a number; the config's output holds the number. */
export const byteSize = (desc: string) =>
  z
    .union([z.number().int().nonnegative(), z.string()])
    .transform((v, ctx) => {
      const n = parseByteSize(v);
      if (n !== undefined) return n;
      ctx.addIssue({ code: "custom", message: "not a valid size (use e.g. 512MiB, 2GB or a number of bytes; 0 = no bound)", input: v });
      return z.NEVER;
    })
    .describe(desc);

export const storageSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .default("./data/edgegate.db")
      .describe("SQLite file of the store-and-forward outbox (WAL mode, synchronous=FULL); its folder is created if missing.")
      .meta({ example: "/var/lib/edgegate/edgegate.db" }),
    flush_interval: duration("How often samples leaving the pipeline are committed to the outbox as encoded Remote-Write batches.").prefault("1s"),
    max_bytes: byteSize(
      "Bound on the encoded bytes kept in the outbox (waiting batches of all targets plus dead letters) and the ingest journal (accepted messages not yet covered by a checkpoint; a checkpoint is forced when the journal passes a quarter of this bound, at most 64 MiB). The checkpoint of the open windows is not counted: its size follows the active series, which limits.max_series bounds. When exceeded, dead letters go first, then the oldest batches; evicted samples are counted with reason=\"evicted_size\". 0 = no bound.",
    ).prefault("1GiB"),
    max_age: duration(
      "Batches older than this are evicted (counted with reason=\"evicted_age\"), delivered or not. Keep it within what the receiver still accepts (its out_of_order_time_window). 0 = no bound.",
    ).prefault("7d"),
    checkpoint_interval: duration(
      "How often the open aggregation windows (and the cross-window state of total/increase/rate_*/histogram_bucket, the flushed-window watermarks) are checkpointed into this file (table `recovery`, in the same transaction as the outbox rows and the ingest-journal position they cover), so a restart replays at most this much of the journal; a checkpoint is also written after every flush of a window, when the journal outgrows its bound, at a config reload and at shutdown. Restored at start, then the journal after it replayed. 0 = only those other occasions.",
    ).prefault("10s"),
  })
  .describe("The SQLite outbox that holds encoded batches until the receiver acknowledges them.");
