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

const byteSize = (desc: string) =>
  z
    .union([z.number().int().nonnegative(), z.string()])
    .refine((v) => parseByteSize(v) !== undefined, { message: "not a valid size (use e.g. 512MiB, 2GB or a number of bytes; 0 = no bound)" })
    .describe(desc);

export const storageSchema = z
  .strictObject({
    path: z.string().min(1).default("./data/edgegate.db").describe("SQLite file of the store-and-forward outbox (WAL mode, synchronous=FULL); its folder is created if missing."),
    flush_interval: duration("How often samples leaving the pipeline are committed to the outbox as encoded Remote-Write batches.").default("1s"),
    max_bytes: byteSize(
      "Bound on the encoded bytes kept in the outbox (waiting batches of all targets plus dead letters) and the ingest journal (accepted messages not yet covered by a checkpoint; a checkpoint is forced when the journal passes a quarter of this bound, at most 64 MiB). When exceeded, dead letters go first, then the oldest batches; evicted samples are counted with reason=\"evicted_size\". 0 = no bound.",
    ).default("1GiB"),
    max_age: duration(
      "Batches older than this are evicted (counted with reason=\"evicted_age\"), delivered or not. Keep it within what the receiver still accepts (its out_of_order_time_window). 0 = no bound.",
    ).default("7d"),
    checkpoint_interval: duration(
      "How often the open aggregation windows (and the cross-window state of total/increase/rate_*/histogram_bucket, the flushed-window watermarks) are checkpointed into this file (table `checkpoints`), so a crash loses at most this much of not-yet-flushed windows; a checkpoint is also written after every flush of a window and at shutdown. Restored at start. 0 = no checkpoints.",
    ).default("10s"),
  })
  .describe("The SQLite outbox that holds encoded batches until the receiver acknowledges them.");
