/**
 * The Prometheus stale marker (Remote-Write spec "Stale Markers"): NaN with bit
 * pattern 0x7ff0000000000002, sent when a series will receive no more samples;
 * that NaN must not be used for anything else.
 */
const scratch = new DataView(new ArrayBuffer(8));
scratch.setUint32(0, 0x7ff00000);
scratch.setUint32(4, 0x00000002);
/** The Prometheus stale marker. Only `isStaleNaN` can tell it from an ordinary NaN. */
export const STALE_NAN: number = scratch.getFloat64(0);

export function isStaleNaN(v: number): boolean {
  if (v === v) return false; // not NaN at all: the fast, common path
  scratch.setFloat64(0, v);
  return scratch.getUint32(0) === 0x7ff00000 && scratch.getUint32(4) === 0x00000002;
}
