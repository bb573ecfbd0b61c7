/**
 * Splits one encoded (uncompressed) `prometheus.WriteRequest` into `lanes`
 * groups of requests that can be in flight at the same time without
 * reordering any series: every series goes to one lane, chosen by a hash of
 * its encoded labels, and within a lane the series keep their order. A lane
 * is cut into requests of at most `maxSamples` samples (a single series entry
 * holding more is sent alone), to be sent one after another. Within a request
 * a series' entries are merged into one TimeSeries (see splitIntoLanes).
 *
 * Works on the wire format without decoding values: top-level field 1 is a
 * TimeSeries; inside it field 1 is a Label, fields 2 (Sample) and 4
 * (Histogram) are counted as samples. The hash covers the bytes of the Label
 * fields: edgegate's writer emits a series' labels sorted and always encoded
 * the same way, so a series has the same hash in every row.
 */

export interface LaneRequest {
  /** An encoded WriteRequest (not compressed). */
  body: Uint8Array;
  samples: number;
}

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error("WriteRequest: truncated varint");
    const b = buf[pos++]!;
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
    if (mul > 2 ** 63) throw new Error("WriteRequest: varint too long");
  }
}

/** Skips one field's value of wire type `wt` starting at `pos`; returns the position after it. */
function skip(buf: Uint8Array, pos: number, wt: number): number {
  switch (wt) {
    case 0:
      return readVarint(buf, pos)[1];
    case 1:
      return pos + 8;
    case 2: {
      const [len, p] = readVarint(buf, pos);
      return p + len;
    }
    case 5:
      return pos + 4;
    default:
      throw new Error(`WriteRequest: unsupported wire type ${wt}`);
  }
}

/** One TimeSeries entry: the byte ranges of its Label fields and of its Sample fields; `other` when it has any other field. */
interface Scanned {
  hash: number;
  samples: number;
  labelStart: number;
  labelEnd: number;
  /** [start, end) pairs of the Sample fields (tag included). */
  sampleRanges: number[];
  other: boolean;
}

/** FNV-1a over the Label fields of one TimeSeries, its sample count, and where its parts are. */
function scanSeries(buf: Uint8Array, start: number, end: number): Scanned {
  let hash = 0x811c9dc5;
  let samples = 0;
  let labelStart = -1;
  let labelEnd = -1;
  let contiguous = true;
  let other = false;
  const sampleRanges: number[] = [];
  let pos = start;
  while (pos < end) {
    const [tag, p] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const next = skip(buf, p, tag & 7);
    if (next > end) throw new Error("WriteRequest: field runs past its series");
    if (field === 1) {
      for (let i = pos; i < next; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
      if (labelStart < 0) labelStart = pos;
      else if (labelEnd !== pos) contiguous = false;
      labelEnd = next;
    } else if (field === 2) {
      samples++;
      sampleRanges.push(pos, next);
    } else {
      if (field === 4) samples++;
      other = true;
    }
    pos = next;
  }
  if (labelStart < 0) labelStart = labelEnd = start;
  return { hash: hash >>> 0, samples, labelStart, labelEnd, sampleRanges, other: other || !contiguous };
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A series of the request being built: its labels once, then every sample of its entries, in order. */
interface Group {
  labelStart: number;
  labelEnd: number;
  sampleRanges: number[];
}

/** What a lane's request being built holds, in order: merged series, or entries copied as they are. */
type Item = { group: Group } | { start: number; end: number };

/**
 * Splits `request` into `lanes` lists of requests; lanes with nothing are
 * empty lists. Within one request, the entries of a series (one per merged
 * row) become one TimeSeries holding all its samples in their order: the
 * receiver then resolves each series once per request instead of once per
 * sample. Entries with anything but labels and float samples (histograms,
 * exemplars) are copied as they are and end that series' merging, so order
 * is kept. Throws on a malformed request.
 */
export function splitIntoLanes(request: Uint8Array, lanes: number, maxSamples: number): LaneRequest[][] {
  const out: LaneRequest[][] = Array.from({ length: lanes }, () => []);
  const fresh = () => ({ items: [] as Item[], groups: new Map<string, Group>(), samples: 0 });
  const open = Array.from({ length: lanes }, fresh);
  const flush = (lane: number): void => {
    const o = open[lane]!;
    if (o.items.length === 0) return;
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    for (const it of o.items) {
      if ("group" in it) {
        const g = it.group;
        let len = g.labelEnd - g.labelStart;
        for (let i = 0; i < g.sampleRanges.length; i += 2) len += g.sampleRanges[i + 1]! - g.sampleRanges[i]!;
        const head = Uint8Array.from([0x0a, ...varintBytes(len)]);
        pieces.push(head, request.subarray(g.labelStart, g.labelEnd));
        bytes += head.length + len;
        for (let i = 0; i < g.sampleRanges.length; i += 2) pieces.push(request.subarray(g.sampleRanges[i]!, g.sampleRanges[i + 1]!));
      } else {
        pieces.push(request.subarray(it.start, it.end));
        bytes += it.end - it.start;
      }
    }
    const body = new Uint8Array(bytes);
    let w = 0;
    for (const piece of pieces) {
      body.set(piece, w);
      w += piece.length;
    }
    out[lane]!.push({ body, samples: o.samples });
    open[lane] = fresh();
  };
  let pos = 0;
  while (pos < request.length) {
    const entryStart = pos;
    const [tag, p] = readVarint(request, pos);
    if (tag !== ((1 << 3) | 2)) {
      // Not a TimeSeries (metadata, unknown field): it goes with lane 0's next request.
      pos = skip(request, p, tag & 7);
      if (pos > request.length) throw new Error("WriteRequest: field runs past the end");
      open[0]!.items.push({ start: entryStart, end: pos });
      continue;
    }
    const [len, bodyStart] = readVarint(request, p);
    const end = bodyStart + len;
    if (end > request.length) throw new Error("WriteRequest: series runs past the end");
    const scanned = scanSeries(request, bodyStart, end);
    const lane = scanned.hash % lanes;
    if (open[lane]!.samples > 0 && open[lane]!.samples + scanned.samples > maxSamples) flush(lane);
    const o = open[lane]!;
    o.samples += scanned.samples;
    const key = Buffer.from(request.buffer, request.byteOffset + scanned.labelStart, scanned.labelEnd - scanned.labelStart).toString("latin1");
    if (scanned.other) {
      o.groups.delete(key);
      o.items.push({ start: entryStart, end });
    } else {
      const g = o.groups.get(key);
      if (g !== undefined) g.sampleRanges.push(...scanned.sampleRanges);
      else {
        const group: Group = { labelStart: scanned.labelStart, labelEnd: scanned.labelEnd, sampleRanges: scanned.sampleRanges };
        o.groups.set(key, group);
        o.items.push({ group });
      }
    }
    pos = end;
  }
  for (let lane = 0; lane < lanes; lane++) flush(lane);
  return out;
}
