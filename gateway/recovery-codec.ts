import type { Json } from "./pipeline/aggregate/output.js";
import type { StampBlocks } from "./pipeline/aggregate/snapshot.js";
import { WordWriter } from "./pipeline/aggregate/stamp-words.js";
import { newStampCursor, type StampCursor, type Window } from "./pipeline/aggregate/window.js";

/**
 * The checkpoint row's bytes (table `recovery`, name `checkpoint`).
 *
 * Why binary: at a million active input series, nearly all of a checkpoint
 * is the open windows' duplicate-check timestamps (a dedupId and the
 * timestamps per input series); everything else (group states, cross-window
 * output state, stale tracking, the order guard) grows with the OUTPUT
 * series. As JSON text those timestamps were base64 inside a 21 MB string
 * that was built (snapshot 60–80 ms), stringified (30–250 ms, with the GC it
 * triggered), measured for its UTF-8 length (20–90 ms) and converted to
 * UTF-8 again by SQLite: 350–470 ms of event loop per checkpoint at 1M
 * series, after every tick that flushed a window; and every one of those
 * big strings and arrays, new at each checkpoint, brought a full
 * mark-compact of the heap (300–400 ms with a million series in it) into
 * it. Binary, each window writes its timestamps as 32-bit words straight
 * into one buffer that is kept from one checkpoint to the next (nothing is
 * allocated per series or per checkpoint), the JSON left is small, and
 * SQLite copies the bytes as a BLOB: 12 B per series with one timestamp.
 *
 * Why not incremental (rows per window, rewritten only when changed): in the
 * steady state every input series sends into the open window between two
 * checkpoints, so the changed part is the whole window and an increment
 * saves nothing at the checkpoint that matters (the one after a flush);
 * the cost is in the bytes, which this format makes as few as they can be
 * without compressing 52-bit hashes.
 *
 * Layout (little-endian 32-bit words, then bytes):
 *
 *   "EGCK" | format (2) | W: words of blocks | J: bytes of JSON |
 *   W words of blocks, each: rows | words after these two | per series:
 *     dedupId high 32 bits | low 20 bits + n << 20 (n ≥ 2047: then a word n) | n timestamps as offsets from the window start |
 *   J bytes: JSON {aggregate, order} (UTF-8)
 *
 * A window's JSON refers to its block by index (`stampBlock`). Format 1, a
 * JSON text `{aggregate, order}` with the timestamps base64 inside, is what
 * earlier versions wrote: `decodeCheckpoint` still reads it, so a gateway
 * upgraded over an existing outbox.db restores its windows.
 */
export const CHECKPOINT_MAGIC = "EGCK";
export const CHECKPOINT_FORMAT = 2;
/**
 * A row that refers to a format-2 checkpoint stored beforehand in table
 * `checkpoint_blobs` by the journal's writer thread (recovery.ts, "a
 * checkpoint off the event loop"): "EGCK" | 3 | blob id | J | JSON {order}.
 */
export const CHECKPOINT_REF_FORMAT = 3;
const HEADER_BYTES = 16;

/** What a checkpoint holds besides its journal position. */
export interface CheckpointData {
  aggregate: Json;
  /** The outbox sink's order guard, per view (OutboxSink.orderState). */
  order: [string, number][][];
}

export interface DecodedCheckpoint extends CheckpointData {
  /** 1: JSON text (earlier versions); 2: binary. */
  format: number;
  /** The windows' timestamp blocks (format 2). */
  blocks: StampBlocks | undefined;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes checkpoints (format 2) into a buffer it keeps: one per gateway,
 * the Durability's. The Buffer `encode` returns is a view of that buffer,
 * valid until the next call (SQLite copies a bound BLOB).
 */
export class CheckpointEncoder {
  private readonly w = new WordWriter();
  private lastWords = 0;

  /** `snapshot` writes the windows' timestamps into the blocks it is given (AggregateStage.snapshot); `order` is read after it. */
  encode(snapshot: (blocks: StampBlocks) => Json, order: () => CheckpointData["order"]): Buffer {
    const w = this.w;
    w.reset(this.lastWords);
    w.reserve(HEADER_BYTES / 4);
    w.length = HEADER_BYTES / 4;
    let count = 0;
    const blocks: StampBlocks = {
      write(win: Window): number | null {
        const at = w.length;
        w.reserve(2);
        w.length += 2;
        const c = newStampCursor();
        if (win.writeStampWords(w, c) < 0) {
          w.length = at;
          return null;
        }
        w.words[at] = c.rows;
        w.words[at + 1] = w.length - at - 2;
        return count++;
      },
      read() {
        throw new Error("not restoring");
      },
    };
    const aggregate = snapshot(blocks);
    return this.seal(JSON.stringify({ aggregate, order: order() } satisfies CheckpointData));
  }

  /**
   * A checkpoint whose windows' timestamps are written by `step`, a bounded
   * number of series at a time (between event-loop turns): the state it was
   * begun on must not change until `finish` (the gateway holds processing).
   * The JSON part is taken now.
   */
  begin(snapshot: (blocks: StampBlocks) => Json, order: () => CheckpointData["order"]): CheckpointJob {
    const w = this.w;
    w.reset(this.lastWords);
    w.reserve(HEADER_BYTES / 4);
    w.length = HEADER_BYTES / 4;
    const windows: Window[] = [];
    const blocks: StampBlocks = {
      write(win: Window): number {
        windows.push(win);
        return windows.length - 1;
      },
      read() {
        throw new Error("not restoring");
      },
    };
    const json = JSON.stringify({ aggregate: snapshot(blocks), order: order() } satisfies CheckpointData);
    let next = 0;
    let cursor: StampCursor | null = null;
    let blockAt = 0;
    return {
      step: (budget: number): -1 | 0 | 1 => {
        while (next < windows.length) {
          if (cursor === null) {
            blockAt = w.length;
            w.reserve(2);
            w.length += 2;
            cursor = newStampCursor();
          }
          const before = cursor.member + cursor.rows;
          const r = windows[next]!.writeStampWords(w, cursor, budget);
          if (r < 0) return -1;
          budget -= Math.max(1, cursor.member + cursor.rows - before);
          if (r === 0) return 0;
          w.words[blockAt] = cursor.rows;
          w.words[blockAt + 1] = w.length - blockAt - 2;
          cursor = null;
          next++;
          if (budget <= 0 && next < windows.length) return 0;
        }
        return 1;
      },
      finish: () => this.seal(json),
    };
  }

  /** Appends the JSON part and the header after the blocks written: the row's bytes (a view of the buffer). */
  private seal(json: string): Buffer {
    const w = this.w;
    const jsonBytes = Buffer.byteLength(json);
    const blockWords = w.length - HEADER_BYTES / 4;
    w.reserve(Math.ceil(jsonBytes / 4));
    this.lastWords = w.length + Math.ceil(jsonBytes / 4);
    const words = w.words;
    const out = Buffer.from(words.buffer, words.byteOffset, HEADER_BYTES + 4 * blockWords + jsonBytes);
    if (!LITTLE_ENDIAN) out.subarray(HEADER_BYTES, HEADER_BYTES + 4 * blockWords).swap32();
    out.write(CHECKPOINT_MAGIC, 0, "latin1");
    out.writeUInt32LE(CHECKPOINT_FORMAT, 4);
    out.writeUInt32LE(blockWords, 8);
    out.writeUInt32LE(jsonBytes, 12);
    out.write(json, HEADER_BYTES + 4 * blockWords, "utf8");
    return out;
  }
}

/** A checkpoint being encoded between event-loop turns (CheckpointEncoder.begin). */
export interface CheckpointJob {
  /** Writes about `budget` more series: 1 done, 0 more to do, -1 a window's timestamps do not pack (encode it at once instead). */
  step(budget: number): -1 | 0 | 1;
  /** The row's bytes (a view of the encoder's shared buffer, valid until its next use), once `step` returned 1. */
  finish(): Buffer;
}

/** The row that refers to blob `blobId` (format 3), with the order guard committed beside it. */
export function encodeCheckpointRef(blobId: number, order: CheckpointData["order"]): Buffer {
  const json = JSON.stringify({ order });
  const out = Buffer.alloc(HEADER_BYTES + Buffer.byteLength(json));
  out.write(CHECKPOINT_MAGIC, 0, "latin1");
  out.writeUInt32LE(CHECKPOINT_REF_FORMAT, 4);
  out.writeUInt32LE(blobId, 8);
  out.writeUInt32LE(out.length - HEADER_BYTES, 12);
  out.write(json, HEADER_BYTES, "utf8");
  return out;
}

/** The blob a checkpoint row refers to (format 3), or null. */
export function checkpointBlobId(stored: string | Buffer): number | null {
  if (typeof stored === "string" || stored.length < HEADER_BYTES || stored.toString("latin1", 0, 4) !== CHECKPOINT_MAGIC) return null;
  return stored.readUInt32LE(4) === CHECKPOINT_REF_FORMAT ? stored.readUInt32LE(8) : null;
}

/**
 * A checkpoint row as stored: format 2 (a Buffer, from a BLOB) or format 1
 * (JSON text, written by earlier versions). Throws an Error saying what is
 * wrong with it (the caller logs it and replays into empty windows).
 */
export function decodeCheckpoint(stored: string | Buffer | Uint8Array, loadBlob: (id: number) => Buffer | undefined = () => undefined): DecodedCheckpoint {
  if (typeof stored === "string") {
    const data = JSON.parse(stored) as Partial<CheckpointData> | null;
    if (data === null || typeof data !== "object") throw new Error("checkpoint: format 1 (JSON) is not an object");
    return { format: 1, aggregate: data.aggregate ?? null, order: data.order ?? [], blocks: undefined };
  }
  const buf = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (buf.length < HEADER_BYTES || buf.toString("latin1", 0, 4) !== CHECKPOINT_MAGIC) throw new Error("checkpoint: not a checkpoint (no EGCK header)");
  const format = buf.readUInt32LE(4);
  if (format === CHECKPOINT_REF_FORMAT) {
    const id = buf.readUInt32LE(8);
    if (HEADER_BYTES + buf.readUInt32LE(12) !== buf.length) throw new Error("checkpoint: the reference row is truncated");
    const ref = JSON.parse(buf.toString("utf8", HEADER_BYTES)) as { order?: CheckpointData["order"] } | null;
    const blob = loadBlob(id);
    if (blob === undefined) throw new Error(`checkpoint: blob ${id} it refers to is missing`);
    const inner = decodeCheckpoint(blob);
    if (inner.format !== CHECKPOINT_FORMAT) throw new Error(`checkpoint: blob ${id} holds format ${inner.format}`);
    return { ...inner, format, order: ref?.order ?? [] };
  }
  if (format !== CHECKPOINT_FORMAT) throw new Error(`checkpoint: format ${format}, this version reads formats 1 to ${CHECKPOINT_REF_FORMAT}`);
  const blockWords = buf.readUInt32LE(8);
  const jsonBytes = buf.readUInt32LE(12);
  if (HEADER_BYTES + 4 * blockWords + jsonBytes !== buf.length) throw new Error(`checkpoint: ${buf.length} bytes, the header says ${HEADER_BYTES + 4 * blockWords + jsonBytes}`);
  const data = JSON.parse(buf.toString("utf8", HEADER_BYTES + 4 * blockWords)) as Partial<CheckpointData> | null;
  if (data === null || typeof data !== "object") throw new Error("checkpoint: the JSON part is not an object");
  // An aligned, host-order copy of the words.
  const words = new Int32Array(blockWords);
  const bytes = new Uint8Array(words.buffer);
  bytes.set(buf.subarray(HEADER_BYTES, HEADER_BYTES + 4 * blockWords));
  if (!LITTLE_ENDIAN) Buffer.from(words.buffer).swap32();
  const index: { from: number; to: number; rows: number }[] = [];
  for (let at = 0; at < blockWords; ) {
    if (at + 2 > blockWords) throw new Error(`checkpoint: timestamp block ${index.length} is truncated`);
    const rows = words[at]!;
    const n = words[at + 1]!;
    if (rows < 0 || n < 0 || at + 2 + n > blockWords) throw new Error(`checkpoint: timestamp block ${index.length} is truncated`);
    index.push({ from: at + 2, to: at + 2 + n, rows });
    at += 2 + n;
  }
  const blocks: StampBlocks = {
    write() {
      throw new Error("not saving");
    },
    read(i: number, win: Window): void {
      const b = Number.isInteger(i) ? index[i] : undefined;
      if (b === undefined) throw new Error(`checkpoint: timestamp block ${i} is missing`);
      win.readStampWords(words, b.from, b.to, b.rows);
    },
  };
  return { format, aggregate: data.aggregate ?? null, order: data.order ?? [], blocks };
}
