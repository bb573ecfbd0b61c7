/**
 * The ingest benchmark's message: one vehicle's 10 numeric signals as JSON
 * (the default topic rule's shape: `ts` is the timestamp, `fleet`/`model` are
 * labels, the rest become samples: 10 per message).
 */
export const SIGNALS_PER_MESSAGE = 10;

const FLEETS = ["north", "south", "east"];

export function vin(i: number): string {
  return `EGWSM${String(i).padStart(12, "0")}`;
}

/**
 * Message `k` of vehicle `v`. Without `tsMs` it carries no timestamp and the
 * gateway stamps it on arrival, as it does for devices without a clock: a
 * file of messages written before the run cannot know when each will be
 * sent, and stamps from the past would close windows under the run (too_late).
 * `model` is a label field: a publisher that can only send to one topic
 * (`mosquitto_pub -l`) varies it to stand for many devices.
 */
export function telemetry(v: number, k: number, tsMs?: number, model = "ev-van"): string {
  const x = (v * 7919 + k * 104729) % 1000;
  return JSON.stringify({
    ...(tsMs === undefined ? {} : { ts: tsMs }),
    fleet: FLEETS[v % 3],
    model,
    speed_kmh: x / 10,
    rpm: 800 + x * 3,
    fuel_level_ratio: x / 1000,
    coolant_temp_c: 80 + x / 50,
    battery_voltage_v: 13 + x / 1000,
    odometer_km: 10000 + k,
    engine_load_ratio: (999 - x) / 1000,
    ambient_temp_c: 5 + x / 100,
    position: { lat: 52 + x / 10000, lon: 13 + x / 10000 },
  });
}
