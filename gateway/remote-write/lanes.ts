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

/** Position after the last readVarint/skip (module state instead of returning tuples: this runs per series entry). */
let at = 0;

function readVarint(buf: Uint8Array, pos: number): number {
  let b = buf[pos++]!;
  if (b < 0x80 && pos <= buf.length) {
    at = pos;
    return b;
  }
  let value = b & 0x7f;
  let mul = 128;
  for (;;) {
    if (pos >= buf.length) throw new Error("WriteRequest: truncated varint");
    b = buf[pos++]!;
    value += (b & 0x7f) * mul;
    if (b < 0x80) {
      at = pos;
      return value;
    }
    mul *= 128;
    if (mul > 2 ** 63) throw new Error("WriteRequest: varint too long");
  }
}

/** Skips one field's value of wire type `wt` starting at `pos`; returns the position after it. */
function skip(buf: Uint8Array, pos: number, wt: number): number {
  switch (wt) {
    case 0:
      readVarint(buf, pos);
      return at;
    case 1:
      return pos + 8;
    case 2: {
      const len = readVarint(buf, pos);
      return at + len;
    }
    case 5:
      return pos + 4;
    default:
      throw new Error(`WriteRequest: unsupported wire type ${wt}`);
  }
}

/** One TimeSeries entry, as scanSeries found it (one reused object: no allocation per entry). */
const scanned = {
  hash: 0,
  samples: 0,
  labelStart: 0,
  labelEnd: 0,
  sampleStart: 0,
  sampleEnd: 0,
  /** Anything but contiguous labels followed by contiguous float samples (histograms, exemplars, another order). */
  other: false,
};

/** FNV-1a over the Label fields of one TimeSeries, its sample count, and where its parts are. */
function scanSeries(buf: Uint8Array, start: number, end: number): void {
  let hash = 0x811c9dc5;
  let samples = 0;
  let labelStart = -1;
  let labelEnd = -1;
  let sampleStart = -1;
  let sampleEnd = -1;
  let other = false;
  let pos = start;
  while (pos < end) {
    const tag = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const next = skip(buf, at, tag & 7);
    if (next > end) throw new Error("WriteRequest: field runs past its series");
    if (field === 1) {
      for (let i = pos; i < next; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
      if (labelStart < 0) labelStart = pos;
      else if (labelEnd !== pos) other = true;
      labelEnd = next;
    } else if (field === 2) {
      samples++;
      if (sampleStart < 0) sampleStart = pos;
      else if (sampleEnd !== pos) other = true;
      sampleEnd = next;
    } else {
      if (field === 4) samples++;
      other = true;
    }
    pos = next;
  }
  if (labelStart < 0) labelStart = labelEnd = start;
  if (sampleStart < 0) sampleStart = sampleEnd = labelEnd;
  scanned.hash = hash >>> 0;
  scanned.samples = samples;
  scanned.labelStart = labelStart;
  scanned.labelEnd = labelEnd;
  scanned.sampleStart = sampleStart;
  scanned.sampleEnd = sampleEnd;
  scanned.other = other || sampleStart < labelEnd;
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

function sameBytes(buf: Uint8Array, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/** A series of the request being built: its labels once, then the samples of its entries, in order ([start, end) pairs). */
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
 * exemplars), and series whose label hash collides with another's in the
 * same request, are copied as they are and never merged, so order is kept.
 * Throws on a malformed request.
 */
export function splitIntoLanes(request: Uint8Array, lanes: number, maxSamples: number): LaneRequest[][] {
  const out: LaneRequest[][] = Array.from({ length: lanes }, () => []);
  const fresh = () => ({ items: [] as Item[], groups: new Map<number, Group | null>(), samples: 0 });
  const open = Array.from({ length: lanes }, fresh);
  const flush = (lane: number): void => {
    const o = open[lane]!;
    if (o.items.length === 0) return;
    let bytes = 0;
    for (const it of o.items) {
      if ("group" in it) {
        const g = it.group;
        let len = g.labelEnd - g.labelStart;
        for (let i = 0; i < g.sampleRanges.length; i += 2) len += g.sampleRanges[i + 1]! - g.sampleRanges[i]!;
        bytes += 1 + varintBytes(len).length + len;
      } else {
        bytes += it.end - it.start;
      }
    }
    const body = new Uint8Array(bytes);
    let w = 0;
    for (const it of o.items) {
      if ("group" in it) {
        const g = it.group;
        let len = g.labelEnd - g.labelStart;
        for (let i = 0; i < g.sampleRanges.length; i += 2) len += g.sampleRanges[i + 1]! - g.sampleRanges[i]!;
        body[w++] = 0x0a;
        for (const b of varintBytes(len)) body[w++] = b;
        body.set(request.subarray(g.labelStart, g.labelEnd), w);
        w += g.labelEnd - g.labelStart;
        for (let i = 0; i < g.sampleRanges.length; i += 2) {
          body.set(request.subarray(g.sampleRanges[i]!, g.sampleRanges[i + 1]!), w);
          w += g.sampleRanges[i + 1]! - g.sampleRanges[i]!;
        }
      } else {
        body.set(request.subarray(it.start, it.end), w);
        w += it.end - it.start;
      }
    }
    out[lane]!.push({ body, samples: o.samples });
    open[lane] = fresh();
  };
  let pos = 0;
  while (pos < request.length) {
    const entryStart = pos;
    const tag = readVarint(request, pos);
    if (tag !== ((1 << 3) | 2)) {
      // Not a TimeSeries (metadata, unknown field): it goes with lane 0's next request.
      pos = skip(request, at, tag & 7);
      if (pos > request.length) throw new Error("WriteRequest: field runs past the end");
      open[0]!.items.push({ start: entryStart, end: pos });
      continue;
    }
    const len = readVarint(request, at);
    const bodyStart = at;
    const end = bodyStart + len;
    if (end > request.length) throw new Error("WriteRequest: series runs past the end");
    scanSeries(request, bodyStart, end);
    const lane = scanned.hash % lanes;
    if (open[lane]!.samples > 0 && open[lane]!.samples + scanned.samples > maxSamples) flush(lane);
    const o = open[lane]!;
    o.samples += scanned.samples;
    const g = o.groups.get(scanned.hash);
    const labelLen = scanned.labelEnd - scanned.labelStart;
    const same = g != null && g.labelEnd - g.labelStart === labelLen && sameBytes(request, g.labelStart, scanned.labelStart, labelLen);
    if (same && !scanned.other) {
      g.sampleRanges.push(scanned.sampleStart, scanned.sampleEnd);
    } else if (g === undefined && !scanned.other) {
      const group: Group = { labelStart: scanned.labelStart, labelEnd: scanned.labelEnd, sampleRanges: [scanned.sampleStart, scanned.sampleEnd] };
      o.groups.set(scanned.hash, group);
      o.items.push({ group });
    } else {
      // Copied as it is. A merged series that gets such an entry is merged no further (its later
      // samples must follow this entry); a hash taken by another series is never merged again.
      if (same) o.groups.set(scanned.hash, null);
      else if (g === undefined) o.groups.set(scanned.hash, null);
      o.items.push({ start: entryStart, end });
    }
    pos = end;
  }
  for (let lane = 0; lane < lanes; lane++) flush(lane);
  return out;
}
