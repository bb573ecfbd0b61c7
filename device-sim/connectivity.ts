/**
 * Per-vehicle link model: when a vehicle's uplink is down. Three kinds of
 * outage, each a Poisson process with its own rate (per hour of wall time)
 * and a uniformly drawn duration: short dead zones, tunnels, and long
 * outages (a depot with no coverage, a modem that hangs). Pure and seeded per
 * vehicle, so a run's outage schedule is reproducible.
 */
import { createRng, deriveSeed, type Rng } from "./rng.js";

export interface OutageKind {
  /** Mean number of outages of this kind per vehicle and hour (0 = none). */
  perHour: number;
  minMs: number;
  maxMs: number;
}

export interface ConnectivityOptions {
  deadZones: OutageKind;
  tunnels: OutageKind;
  outages: OutageKind;
}

export const DEFAULT_CONNECTIVITY: ConnectivityOptions = {
  deadZones: { perHour: 0, minMs: 5_000, maxMs: 30_000 },
  tunnels: { perHour: 0, minMs: 30_000, maxMs: 180_000 },
  outages: { perHour: 0, minMs: 600_000, maxMs: 3_600_000 },
};

export type OutageName = "dead_zone" | "tunnel" | "outage" | "forced";

export interface LinkModel {
  /** Whether the link is up at time t (ms, non-decreasing across calls); advances the schedule. */
  onlineAt(t: number): boolean;
  /** The kind of the current outage, undefined while online. */
  readonly cause: OutageName | undefined;
  /** Takes the link down from `t` for `durationMs` (tests, and `Fleet.disconnect`). */
  force(t: number, durationMs: number): void;
}

const H = 3_600_000;

export function createLinkModel(opts: ConnectivityOptions, seed: number, index: number, startMs: number): LinkModel {
  const rng: Rng = createRng(deriveSeed(seed, 0x1f83d9ab ^ index));
  const kinds: [OutageName, OutageKind][] = [
    ["dead_zone", opts.deadZones],
    ["tunnel", opts.tunnels],
    ["outage", opts.outages],
  ];
  const total = kinds.reduce((n, [, k]) => n + Math.max(0, k.perHour), 0);
  // Exponential gap to the next outage of any kind; the kind is drawn by its share of the rate.
  const gap = (): number => (total > 0 ? (-Math.log(1 - rng.next()) / total) * H : Infinity);
  let downAt = startMs + gap();
  let upAt = -Infinity;
  let cause: OutageName | undefined;

  const schedule = (): void => {
    let pick = rng.next() * total;
    let kind = kinds[0]!;
    for (const k of kinds) {
      kind = k;
      pick -= Math.max(0, k[1].perHour);
      if (pick < 0) break;
    }
    cause = kind[0];
    upAt = downAt + kind[1].minMs + rng.next() * (kind[1].maxMs - kind[1].minMs);
  };

  return {
    get cause() {
      return cause;
    },
    onlineAt(t) {
      for (;;) {
        if (t < upAt) return false;
        if (cause !== undefined) {
          // Back online at upAt; the next outage starts a fresh gap after it.
          cause = undefined;
          downAt = Math.max(downAt, upAt) + gap();
        }
        if (t < downAt) return true;
        schedule();
      }
    },
    force(t, durationMs) {
      if (upAt > t && cause !== undefined) {
        upAt = Math.max(upAt, t + durationMs);
        return;
      }
      cause = "forced";
      upAt = t + durationMs;
      // The scheduled outage still comes, after this one if it was due within it.
      if (downAt < upAt) downAt = upAt;
    },
  };
}
