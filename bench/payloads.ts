/** Deterministic telemetry payloads shaped like device-sim's, generated up front so generation is not measured. */
export function makePayloads(vehicles: number, perVehicle: number, startMs: number): { topic: string; payload: string }[] {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const fleets = ["north", "south", "east"];
  const out: { topic: string; payload: string }[] = [];
  for (let k = 0; k < perVehicle; k++) {
    for (let v = 0; v < vehicles; v++) {
      const vin = `EGWSM${String(v).padStart(12, "0")}`;
      out.push({
        topic: `vehicles/${vin}/telemetry`,
        payload: JSON.stringify({
          ts: startMs + k * 1000 + (v % 1000),
          fleet: fleets[v % 3],
          model: "ev-van",
          speed_kmh: Math.round(rnd() * 1300) / 10,
          rpm: Math.round(rnd() * 4000),
          fuel_level_ratio: Math.round(rnd() * 1000) / 1000,
          coolant_temp_c: 80 + Math.round(rnd() * 200) / 10,
          battery_voltage_v: 13 + Math.round(rnd() * 15) / 10,
          odometer_km: 10000 + k,
          position: { lat: 52 + rnd() / 10, lon: 13 + rnd() / 10 },
        }),
      });
    }
  }
  return out;
}
