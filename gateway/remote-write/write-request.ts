import type { TimeSeries } from "./codec.js";

/**
 * A hand-written protobuf writer for the one message edgegate sends,
 * `prometheus.WriteRequest` (proto/remote.proto): field 1 `timeseries`, each
 * with field 1 `labels` (Label: 1 name, 2 value) and field 2 `samples`
 * (Sample: 1 double value, 2 int64 timestamp). Same wire format as a
 * reflection encoder (protobufjs) given plain objects: every field written,
 * in field order, so a protobuf decoder reads back exactly what was given.
 *
 * Two passes over the series — sizes, then bytes — into one buffer of the
 * exact size: no nested length back-patching, no per-field objects, strings
 * written in place (UTF-8, as TextEncoder writes them); the only allocation
 * is the result.
 */

const TWO_32 = 4294967296;

export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Bytes of an int64 varint for an integer number (negative ones take 10: two's complement). */
export function int64Size(t: number): number {
  if (t < 0) return 10;
  if (t < 0x10000000) return varintSize(t);
  return t < 34359738368 ? 5 : t < 4398046511104 ? 6 : t < 562949953421312 ? 7 : t < 72057594037927936 ? 8 : t < 9223372036854775808 ? 9 : 10;
}

export function writeVarint32(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  return pos;
}

export function writeInt64(out: Uint8Array, pos: number, t: number): number {
  if (t >= 0 && t < 0x80000000) return writeVarint32(out, pos, t);
  if (t < 0) {
    // Rare (timestamps before 1970): two's complement over 64 bits, as protobuf's int64.
    let v = BigInt.asUintN(64, BigInt(t));
    while (v >= 0x80n) {
      out[pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    out[pos++] = Number(v);
    return pos;
  }
  // ToUint32 is t mod 2^32; what remains divides exactly (t < 2^53).
  let lo = t >>> 0;
  let hi = ((t - lo) / TWO_32) >>> 0;
  if (hi >= 8 && hi < 1024) {
    // 2^35 ≤ t < 2^42, six bytes: every millisecond timestamp from 1971 to 2109.
    out[pos] = (lo & 0x7f) | 0x80;
    out[pos + 1] = ((lo >>> 7) & 0x7f) | 0x80;
    out[pos + 2] = ((lo >>> 14) & 0x7f) | 0x80;
    out[pos + 3] = ((lo >>> 21) & 0x7f) | 0x80;
    out[pos + 4] = ((lo >>> 28) | (hi << 4)) & 0x7f | 0x80;
    out[pos + 5] = hi >>> 3;
    return pos + 6;
  }
  while (hi > 0) {
    out[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  return writeVarint32(out, pos, lo);
}

/** UTF-8 length of `s`; a lone surrogate counts 3 bytes (it is written as U+FFFD). */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 2 code units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** Writes `s` as UTF-8 (`bytes` long, from utf8Length), a lone surrogate as U+FFFD, as TextEncoder does. */
export function writeUtf8(out: Uint8Array, pos: number, s: string, bytes: number): number {
  const n = s.length;
  if (bytes === n) {
    for (let i = 0; i < n; i++) out[pos + i] = s.charCodeAt(i);
    return pos + n;
  }
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) out[pos++] = c;
    else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && (d & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[pos++] = 0xf0 | (c >> 18);
        out[pos++] = 0x80 | ((c >> 12) & 0x3f);
        out[pos++] = 0x80 | ((c >> 6) & 0x3f);
        out[pos++] = 0x80 | (c & 0x3f);
      } else {
        out[pos++] = 0xef;
        out[pos++] = 0xbf;
        out[pos++] = 0xbd;
      }
    } else {
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 0x3f);
      out[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

/** Size of one encoded Label message (without its tag and length). */
export function labelBodySize(nameBytes: number, valueBytes: number): number {
  return 1 + varintSize(nameBytes) + nameBytes + 1 + varintSize(valueBytes) + valueBytes;
}

// Scratch of the request being written, reused across calls: each series' body
// size, and each label string's UTF-8 length (name, value, name, value, …).
let bodySizes = new Int32Array(1024);
let strBytes = new Int32Array(4096);

/**
 * Writes one TimeSeries.labels field (a Label: name, value) at `pos`; `nameBytes` and
 * `valueBytes` are the strings' UTF-8 lengths, already measured for the request's size.
 * Returns the position after it.
 */
export function writeLabel(out: Uint8Array, pos: number, name: string, value: string, nameBytes: number, valueBytes: number): number {
  let p = pos;
  out[p++] = 0x0a; // TimeSeries.labels = 1
  p = writeVarint32(out, p, labelBodySize(nameBytes, valueBytes));
  out[p++] = 0x0a; // Label.name = 1
  p = writeVarint32(out, p, nameBytes);
  p = writeUtf8(out, p, name, nameBytes);
  out[p++] = 0x12; // Label.value = 2
  p = writeVarint32(out, p, valueBytes);
  return writeUtf8(out, p, value, valueBytes);
}

/** Protobuf bytes of a `prometheus.WriteRequest` holding `series`, not compressed. */
export function writeWriteRequest(series: readonly TimeSeries[]): Uint8Array {
  const count = series.length;
  if (bodySizes.length < count) bodySizes = new Int32Array(Math.max(count, bodySizes.length * 2));
  let total = 0;
  let str = 0;
  for (let i = 0; i < count; i++) {
    const ts = series[i]!;
    const labels = ts.labels;
    if (strBytes.length < str + 2 * labels.length) {
      const grown = new Int32Array(Math.max(strBytes.length * 2, str + 2 * labels.length));
      grown.set(strBytes);
      strBytes = grown;
    }
    let body = 0;
    for (let k = 0; k < labels.length; k++) {
      const l = labels[k]!;
      const nb = utf8Length(l.name);
      const vb = utf8Length(l.value);
      strBytes[str++] = nb;
      strBytes[str++] = vb;
      const lb = labelBodySize(nb, vb);
      body += 1 + varintSize(lb) + lb;
    }
    const samples = ts.samples;
    for (let k = 0; k < samples.length; k++) {
      // tag + length (a Sample is at most 20 bytes: one length byte) + value (1 + 8) + timestamp (1 + varint).
      body += 12 + int64Size(samples[k]!.timestamp);
    }
    bodySizes[i] = body;
    total += 1 + varintSize(body) + body;
  }
  const out = new Uint8Array(total);
  // DataView.setFloat64 writes the number's bits as they are: a NaN keeps its payload (the stale marker 0x7ff0000000000002).
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let p = 0;
  str = 0;
  for (let i = 0; i < count; i++) {
    const ts = series[i]!;
    out[p++] = 0x0a; // WriteRequest.timeseries = 1
    p = writeVarint32(out, p, bodySizes[i]!);
    const labels = ts.labels;
    for (let k = 0; k < labels.length; k++) {
      const l = labels[k]!;
      const nb = strBytes[str++]!;
      const vb = strBytes[str++]!;
      p = writeLabel(out, p, l.name, l.value, nb, vb);
    }
    const samples = ts.samples;
    for (let k = 0; k < samples.length; k++) {
      const s = samples[k]!;
      const t = s.timestamp;
      out[p++] = 0x12; // TimeSeries.samples = 2
      out[p++] = 10 + int64Size(t);
      out[p++] = 0x09; // Sample.value = 1, 64-bit
      view.setFloat64(p, s.value, true);
      p += 8;
      out[p++] = 0x10; // Sample.timestamp = 2, varint
      p = writeInt64(out, p, t);
    }
  }
  if (p !== total) throw new Error(`WriteRequest writer: wrote ${p} bytes, sized ${total}`);
  return out;
}

/** A sorted run [b, e) of timestamps that are all six-byte varints (b < e). */
function sixByteRun(ts: Float64Array, b: number, e: number): boolean {
  return ts[b]! >= 34359738368 && ts[e - 1]! < 4398046511104;
}

/**
 * A WriteRequest of series kept in typed arrays (series-table.ts): piece j is
 * (index into `outId`, first sample, end) = pieces[3j], pieces[3j+1], pieces[3j+2];
 * a series' labels are copied as they are from `arena` (its `TimeSeries.labels`
 * fields, encoded once), its samples are `ts`/`val` in that run, which is sorted
 * by timestamp. Sizes first, then the bytes into one buffer of the exact size,
 * as writeWriteRequest. A run whose first and last timestamps are both six-byte
 * varints (2^35 ≤ t < 2^42: every millisecond timestamp from 1971 to 2109) has
 * only such timestamps: its size is 18 bytes per sample without looking at each,
 * and its samples are written without a range check per sample.
 */
export function writeSeriesRuns(
  outId: Int32Array,
  recOff: Int32Array,
  recLen: Int32Array,
  arena: Uint8Array,
  ts: Float64Array,
  val: Float64Array,
  pieces: Int32Array,
  np: number,
): Uint8Array {
  if (bodySizes.length < np) bodySizes = new Int32Array(Math.max(np, bodySizes.length * 2));
  let total = 0;
  for (let j = 0; j < np; j++) {
    let body = recLen[outId[pieces[3 * j]!]!]!;
    const b = pieces[3 * j + 1]!;
    const e = pieces[3 * j + 2]!;
    if (sixByteRun(ts, b, e)) body += 18 * (e - b);
    else for (let p = b; p < e; p++) body += 12 + int64Size(ts[p]!);
    bodySizes[j] = body;
    total += 1 + varintSize(body) + body;
  }
  const out = new Uint8Array(total);
  // DataView.setFloat64 writes the number's bits as they are: a NaN keeps its payload (the stale marker).
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let q = 0;
  for (let j = 0; j < np; j++) {
    const id = outId[pieces[3 * j]!]!;
    const e = pieces[3 * j + 2]!;
    out[q++] = 0x0a; // WriteRequest.timeseries = 1
    q = writeVarint32(out, q, bodySizes[j]!);
    const off = recOff[id]!;
    const len = recLen[id]!;
    if (len > 64) {
      out.set(arena.subarray(off, off + len), q);
      q += len;
    } else for (let b = 0; b < len; b++) out[q++] = arena[off + b]!;
    const b = pieces[3 * j + 1]!;
    if (sixByteRun(ts, b, e)) {
      for (let p = b; p < e; p++) {
        const t = ts[p]!;
        out[q] = 0x12; // TimeSeries.samples = 2
        out[q + 1] = 16;
        out[q + 2] = 0x09; // Sample.value = 1, 64-bit
        view.setFloat64(q + 3, val[p]!, true);
        out[q + 11] = 0x10; // Sample.timestamp = 2, varint of six bytes (as writeInt64)
        const lo = t >>> 0;
        const hi = (t - lo) / TWO_32;
        out[q + 12] = (lo & 0x7f) | 0x80;
        out[q + 13] = ((lo >>> 7) & 0x7f) | 0x80;
        out[q + 14] = ((lo >>> 14) & 0x7f) | 0x80;
        out[q + 15] = ((lo >>> 21) & 0x7f) | 0x80;
        out[q + 16] = (((lo >>> 28) | (hi << 4)) & 0x7f) | 0x80;
        out[q + 17] = hi >>> 3;
        q += 18;
      }
      continue;
    }
    for (let p = b; p < e; p++) {
      const t = ts[p]!;
      out[q++] = 0x12; // TimeSeries.samples = 2
      out[q++] = 10 + int64Size(t);
      out[q++] = 0x09; // Sample.value = 1, 64-bit
      view.setFloat64(q, val[p]!, true);
      q += 8;
      out[q++] = 0x10; // Sample.timestamp = 2, varint
      q = writeInt64(out, q, t);
    }
  }
  if (q !== total) throw new Error(`WriteRequest writer: wrote ${q} bytes, sized ${total}`);
  return out;
}
