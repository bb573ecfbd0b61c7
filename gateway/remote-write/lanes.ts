/**
 * Splits one encoded (uncompressed) `prometheus.WriteRequest` into `lanes`
 * groups of requests that can be in flight at the same time without
 * reordering any series: every series goes to one lane, chosen by a hash of
 * its encoded labels, and within a lane the series keep their order. A lane
 * is cut into requests of at most `maxSamples` samples (a single series entry
 * holding more is sent alone), to be sent one after another.
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

/** FNV-1a over the Label fields of one TimeSeries, and its sample count. */
function scanSeries(buf: Uint8Array, start: number, end: number): { hash: number; samples: number } {
  let hash = 0x811c9dc5;
  let samples = 0;
  let pos = start;
  while (pos < end) {
    const [tag, p] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const next = skip(buf, p, tag & 7);
    if (next > end) throw new Error("WriteRequest: field runs past its series");
    if (field === 1) {
      for (let i = pos; i < next; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
    } else if (field === 2 || field === 4) {
      samples++;
    }
    pos = next;
  }
  return { hash: hash >>> 0, samples };
}

/** Splits `request` into `lanes` lists of requests; lanes with nothing are empty lists. Throws on a malformed request. */
export function splitIntoLanes(request: Uint8Array, lanes: number, maxSamples: number): LaneRequest[][] {
  const out: LaneRequest[][] = Array.from({ length: lanes }, () => []);
  // Per lane: the [start, end) byte ranges of the top-level entries of the request being filled, and its samples.
  const open: { ranges: number[]; bytes: number; samples: number }[] = Array.from({ length: lanes }, () => ({ ranges: [], bytes: 0, samples: 0 }));
  const flush = (lane: number): void => {
    const o = open[lane]!;
    if (o.ranges.length === 0) return;
    const body = new Uint8Array(o.bytes);
    let w = 0;
    for (let i = 0; i < o.ranges.length; i += 2) {
      body.set(request.subarray(o.ranges[i]!, o.ranges[i + 1]!), w);
      w += o.ranges[i + 1]! - o.ranges[i]!;
    }
    out[lane]!.push({ body, samples: o.samples });
    open[lane] = { ranges: [], bytes: 0, samples: 0 };
  };
  let pos = 0;
  while (pos < request.length) {
    const entryStart = pos;
    const [tag, p] = readVarint(request, pos);
    if (tag !== ((1 << 3) | 2)) {
      // Not a TimeSeries (metadata, unknown field): it goes with lane 0's next request.
      pos = skip(request, p, tag & 7);
      if (pos > request.length) throw new Error("WriteRequest: field runs past the end");
      const o = open[0]!;
      o.ranges.push(entryStart, pos);
      o.bytes += pos - entryStart;
      continue;
    }
    const [len, bodyStart] = readVarint(request, p);
    const end = bodyStart + len;
    if (end > request.length) throw new Error("WriteRequest: series runs past the end");
    const { hash, samples } = scanSeries(request, bodyStart, end);
    const lane = hash % lanes;
    const o = open[lane]!;
    if (o.samples > 0 && o.samples + samples > maxSamples) flush(lane);
    const o2 = open[lane]!;
    o2.ranges.push(entryStart, end);
    o2.bytes += end - entryStart;
    o2.samples += samples;
    pos = end;
  }
  for (let lane = 0; lane < lanes; lane++) flush(lane);
  return out;
}
