/** The fleet's counters and the figures shown live and in the summary. */
import type { VehicleLink } from "./vehicle-link.js";

export interface FleetStats {
  vehicles: number;
  /** MQTT connections up now. */
  connected: number;
  /** Vehicles without coverage now (in a dead zone, tunnel or outage). */
  offline: number;
  /** Messages delivered (QoS 1: acknowledged; QoS 0: written). */
  sent: number;
  /** Readings in those messages (= sent, except in batch mode and replays). */
  readings: number;
  /** Readings waiting in backlogs. */
  buffered: number;
  /** Readings lost because a backlog was full. */
  dropped: number;
  errors: number;
  reconnects: number;
  /** How far behind its schedule the generator was at its last reading (ms); > interval means this process cannot keep up. */
  lagMs: number;
  elapsedMs: number;
}

export interface StatsCounters {
  vehicles: number;
  sent: number;
  readings: number;
  errors: number;
  lagMs: number;
  lastError: Error | undefined;
  t0: number;
  frozenElapsedMs: number | undefined;
  final: FleetStats | undefined;
}

export function createStatsCounters(vehicles: number): StatsCounters {
  return { vehicles, sent: 0, readings: 0, errors: 0, lagMs: 0, lastError: undefined, t0: NaN, frozenElapsedMs: undefined, final: undefined };
}

/** After the run, the final figures (taken before disconnecting) are returned unchanged. */
export function snapshot(c: StatsCounters, vehicles: readonly VehicleLink[], nowMs: number): FleetStats {
  if (c.final) return c.final;
  let connected = 0;
  let offline = 0;
  let buffered = 0;
  let dropped = 0;
  let reconnects = 0;
  for (const v of vehicles) {
    if (v.link.connected) connected++;
    if (!v.covered) offline++;
    buffered += v.backlog.length;
    dropped += v.backlog.dropped;
    reconnects += v.link.reconnects;
  }
  const elapsedMs = c.frozenElapsedMs ?? (Number.isNaN(c.t0) ? 0 : nowMs - c.t0);
  return { vehicles: c.vehicles, connected, offline, sent: c.sent, readings: c.readings, buffered, dropped, errors: c.errors, reconnects, lagMs: Math.round(c.lagMs), elapsedMs };
}
