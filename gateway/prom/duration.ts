/**
 * Prometheus duration strings (`model.ParseDuration`): one or more `<int><unit>`
 * with units y, w, d, h, m, s, ms in that order, e.g. `1h30m`, `10s`, `500ms`, or `0`.
 */
const UNIT_MS: Record<string, number> = {
  y: 365 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};
const ORDER = ["y", "w", "d", "h", "m", "s", "ms"];
const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Returns milliseconds, or throws an Error naming the bad string. */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  const m = DURATION_RE.exec(text);
  if (!m || text === "") throw new Error(`not a valid duration: ${JSON.stringify(text)} (use e.g. 500ms, 10s, 5m, 1h30m)`);
  let ms = 0;
  for (let i = 0; i < ORDER.length; i++) {
    const part = m[i + 1];
    if (part !== undefined) ms += Number(part) * UNIT_MS[ORDER[i]!]!;
  }
  return ms;
}

/** Formats milliseconds the way Prometheus prints durations (`1h30m`, `10s`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const u of ORDER) {
    const size = UNIT_MS[u]!;
    if (rest >= size) {
      const n = Math.floor(rest / size);
      out += `${n}${u}`;
      rest -= n * size;
    }
  }
  return out;
}
