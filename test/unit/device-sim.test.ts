import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODELS, SPEED_CAP_KMH } from "../../device-sim/catalog.js";
import { createSimVehicle, generateMessages, type GeneratedMessage } from "../../device-sim/messages.js";
import { createRng, deriveSeed } from "../../device-sim/rng.js";
import { IDLE_RPM, LIMITS, step, toPayload, type VehicleState } from "../../device-sim/vehicle.js";
import { isValidVin, makeVin, VIN_ALPHABET } from "../../device-sim/vin.js";

const FIELDS = ["battery_voltage_v", "coolant_temp_c", "dtc_count", "fleet", "fuel_level_ratio", "gear", "ignition", "mil_on", "model", "odometer_km", "position", "rpm", "speed_kmh", "ts"];
const START = 1_700_000_000_000;

describe("rng", () => {
  it("is a deterministic stream per seed, in [0, 1)", () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 1000 }, () => a.next());
    assert.deepEqual(Array.from({ length: 1000 }, () => b.next()), xs);
    assert.notDeepEqual(Array.from({ length: 1000 }, () => c.next()), xs);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });

  it("derives distinct streams per vehicle", () => {
    const seeds = new Set(Array.from({ length: 10_000 }, (_, i) => deriveSeed(7, i)));
    assert.equal(seeds.size, 10_000);
  });
});

describe("vin", () => {
  it("accepts a textbook VIN and rejects a wrong check digit", () => {
    assert.equal(isValidVin("1M8GDM9AXKP042788"), true);
    assert.equal(isValidVin("1M8GDM9A1KP042788"), false);
    assert.equal(isValidVin("1M8GDM9AXKP04278O"), false); // O is not in the alphabet
  });

  it("is 17 valid characters, unique within a run, deterministic per seed", () => {
    const vins = Array.from({ length: 5000 }, (_, i) => makeVin(42, i));
    assert.equal(new Set(vins).size, vins.length);
    for (const vin of vins) {
      assert.equal(vin.length, 17);
      assert.ok([...vin].every((ch) => VIN_ALPHABET.includes(ch)), vin);
      assert.ok(!/[IOQ]/.test(vin), vin);
      assert.ok(isValidVin(vin), vin);
    }
    assert.deepEqual(Array.from({ length: 5000 }, (_, i) => makeVin(42, i)), vins);
    const other = Array.from({ length: 100 }, (_, i) => makeVin(43, i));
    assert.ok(other.every((v, i) => v !== vins[i]));
  });
});

describe("generateMessages", () => {
  const opts = { vehicles: 10, intervalMs: 1000, count: 500, seed: 42, startMs: START };

  it("is identical for the same seed and different for another", () => {
    const a = generateMessages(opts);
    assert.equal(a.length, 500);
    assert.deepEqual(generateMessages(opts), a);
    const b = generateMessages({ ...opts, seed: 43 });
    assert.notDeepEqual(
      b.map((m) => m.payload),
      a.map((m) => m.payload),
    );
  });

  it("publishes on vehicles/<vin>/telemetry with every field, in time order, spread over the interval", () => {
    const msgs = generateMessages({ ...opts, fleets: 2 });
    let lastTs = -Infinity;
    for (const m of msgs) {
      assert.equal(m.topic, `vehicles/${m.vin}/telemetry`);
      assert.deepEqual(Object.keys(m.payload).sort(), FIELDS);
      assert.ok(m.payload.ts >= lastTs);
      lastTs = m.payload.ts;
      assert.ok(["north", "south"].includes(m.payload.fleet), m.payload.fleet);
      assert.ok(MODELS.some((p) => p.name === m.payload.model));
      assert.equal(typeof m.payload.position.lat, "number");
    }
    const firstRound = msgs.slice(0, 10).map((m) => m.payload.ts - START);
    assert.deepEqual(firstRound, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    assert.equal(new Set(msgs.slice(0, 10).map((m) => m.vin)).size, 10);
  });

  it("keeps fleet and model fixed per vehicle and uses the topic prefix", () => {
    const msgs = generateMessages({ ...opts, topicPrefix: "cars" });
    const seen = new Map<string, string>();
    for (const m of msgs) {
      assert.ok(m.topic.startsWith("cars/"));
      const key = `${m.payload.fleet}/${m.payload.model}`;
      assert.equal(seen.get(m.vin) ?? key, key);
      seen.set(m.vin, key);
    }
  });

  it("rejects bad options naming them", () => {
    assert.throws(() => generateMessages({ ...opts, vehicles: 0 }), /vehicles/);
    assert.throws(() => generateMessages({ ...opts, intervalMs: 0 }), /intervalMs/);
    assert.throws(() => generateMessages({ ...opts, count: -1 }), /count/);
  });
});

describe("vehicle model", () => {
  it("step does not mutate its input and splits long steps into the same 1 s sub-steps", () => {
    const v = createSimVehicle({ vehicles: 1, intervalMs: 1000, seed: 5 }, 0);
    const s0: VehicleState = { ...v.state };
    const snapshot = structuredClone(s0);
    const once = step(s0, 120_000, createRng(9));
    assert.deepEqual(s0, snapshot);
    let many = s0;
    const rng = createRng(9);
    for (let i = 0; i < 120; i++) many = step(many, 1000, rng);
    assert.deepEqual(once, many);
    assert.equal(step(s0, 0, createRng(9)), s0);
  });

  it("refuels when parking low, and ends a trip on reserve", () => {
    const base = createSimVehicle({ vehicles: 1, intervalMs: 1000, seed: 5 }, 0).state;
    const parking = step({ ...base, phase: "cooldown", phaseLeftMs: 500, engineOn: true, speedKmh: 0, fuelLevelRatio: 0.1 }, 1000, createRng(1));
    assert.equal(parking.phase, "parked");
    assert.equal(parking.engineOn, false);
    assert.ok(parking.fuelLevelRatio >= 0.9);
    const reserve = step({ ...base, phase: "driving", phaseLeftMs: 600_000, segmentLeftMs: 60_000, engineOn: true, speedKmh: 50, targetKmh: 50, fuelLevelRatio: 0.01 }, 1000, createRng(1));
    assert.equal(reserve.phase, "arriving");
  });

  it("toPayload rounds to the published precision", () => {
    const s = createSimVehicle({ vehicles: 1, intervalMs: 1000, seed: 5 }, 0).state;
    const p = toPayload({ ...s, speedKmh: 52.345, odometerKm: 12034.51249 }, 7);
    assert.equal(p.ts, 7);
    assert.equal(p.speed_kmh, 52.3);
    assert.equal(p.odometer_km, 12034.512);
  });
});

/** Plausibility over a long generated run: 20 vehicles × 2 h at 1 s. */
describe("plausibility over 20 vehicles × 2 h", () => {
  const vehicles = 20;
  const steps = 2 * 3600;
  const byVin = new Map<string, GeneratedMessage["payload"][]>();
  for (const m of generateMessages({ vehicles, intervalMs: 1000, count: vehicles * steps, seed: 42, startMs: START })) {
    const list = byVin.get(m.vin) ?? [];
    list.push(m.payload);
    byVin.set(m.vin, list);
  }
  const running = (p: GeneratedMessage["payload"]): boolean => p.ignition;
  const powertrain = (p: GeneratedMessage["payload"]) => MODELS.find((m) => m.name === p.model)!.powertrain;

  it("has one series of 7200 messages per vehicle", () => {
    assert.equal(byVin.size, vehicles);
    for (const list of byVin.values()) assert.equal(list.length, steps);
  });

  it("odometer never decreases and matches ∫ speed dt", () => {
    for (const [vin, list] of byVin) {
      let integral = 0;
      for (let i = 1; i < list.length; i++) {
        const a = list[i - 1]!;
        const b = list[i]!;
        assert.ok(b.odometer_km >= a.odometer_km, `${vin} odometer went back at ${i}`);
        integral += ((a.speed_kmh + b.speed_kmh) / 2) * ((b.ts - a.ts) / 3_600_000);
      }
      const driven = list.at(-1)!.odometer_km - list[0]!.odometer_km;
      assert.ok(driven > 1, `${vin} drove only ${driven} km`);
      assert.ok(Math.abs(driven - integral) <= 0.01 + 0.005 * driven, `${vin}: odometer ${driven} km vs ∫speed ${integral} km`);
    }
  });

  it("speed, fuel, rpm, coolant and battery stay in their bounds", () => {
    for (const [vin, list] of byVin) {
      const model = MODELS.find((m) => m.name === list[0]!.model)!;
      for (let i = 0; i < list.length; i++) {
        const p = list[i]!;
        const at = `${vin}@${i}`;
        assert.ok(p.speed_kmh >= 0 && p.speed_kmh <= Math.min(SPEED_CAP_KMH, model.maxSpeedKmh), `${at} speed ${p.speed_kmh}`);
        assert.ok(p.fuel_level_ratio >= 0 && p.fuel_level_ratio <= 1, `${at} fuel ${p.fuel_level_ratio}`);
        assert.ok(p.coolant_temp_c >= 0 && p.coolant_temp_c <= LIMITS.maxCoolantC, `${at} coolant ${p.coolant_temp_c}`);
        assert.ok(p.rpm >= 0 && p.rpm <= 8_000, `${at} rpm ${p.rpm}`);
        assert.ok(p.dtc_count >= 0 && p.dtc_count <= 8 && Number.isInteger(p.dtc_count), `${at} dtc ${p.dtc_count}`);
        if (p.mil_on) assert.ok(p.dtc_count > 0, `${at} lamp lit without a stored code`);
        if (running(p)) {
          assert.ok(p.battery_voltage_v >= 13.8 && p.battery_voltage_v <= 14.4, `${at} running battery ${p.battery_voltage_v}`);
          // A combustion engine idles; an electric motor (and a hybrid below town speed) stands still with the wheels.
          if (powertrain(p) === "ice") assert.ok(p.rpm >= IDLE_RPM - 100, `${at} rpm ${p.rpm}`);
          if (powertrain(p) === "electric") assert.ok(p.speed_kmh > 0 || p.rpm === 0, `${at} motor turning at a standstill`);
          if (powertrain(p) === "hybrid" && p.speed_kmh < 35) assert.equal(p.rpm, 0, `${at} hybrid engine on in town`);
        } else {
          // Ignition off: parked, no rpm, resting battery, neutral.
          assert.equal(p.speed_kmh, 0, `${at} moving with the ignition off`);
          assert.equal(p.rpm, 0, `${at} rpm with the ignition off`);
          assert.equal(p.gear, 0, `${at} in gear with the ignition off`);
          assert.ok(p.battery_voltage_v >= 12.4 && p.battery_voltage_v <= 12.7, `${at} resting battery ${p.battery_voltage_v}`);
        }
        if (p.speed_kmh > 10 && powertrain(p) === "ice") assert.ok(p.rpm > IDLE_RPM - 100, `${at} moving at idle-less rpm ${p.rpm}`);
        if (p.speed_kmh > 10 && powertrain(p) !== "hybrid") assert.ok(p.gear >= 1, `${at} moving in neutral`);
        if (i > 0) {
          const prev = list[i - 1]!;
          // Fuel only goes up at a refuel, which happens parked with the engine off.
          if (p.fuel_level_ratio > prev.fuel_level_ratio) assert.ok(!running(p) && p.speed_kmh === 0, `${at} fuel rose while running`);
        }
      }
    }
  });

  it("every vehicle both drives and parks, warms up while running and cools down while parked", () => {
    for (const [vin, list] of byVin) {
      let trips = 0;
      let parks = 0;
      let runFor = 0;
      let offFor = 0;
      let offStartTemp = 0;
      for (let i = 0; i < list.length; i++) {
        const p = list[i]!;
        const prev = list[i - 1];
        if (prev && !running(prev) && running(p)) trips++;
        if (prev && running(prev) && !running(p)) {
          parks++;
          offStartTemp = p.coolant_temp_c;
        }
        runFor = running(p) ? runFor + 1 : 0;
        offFor = running(p) ? 0 : offFor + 1;
        // Only a combustion engine warms its coolant to the thermostat's ~88 °C.
        if (runFor === 15 * 60 && powertrain(p) === "ice") assert.ok(p.coolant_temp_c > 80, `${vin}@${i} still cold after 15 min running: ${p.coolant_temp_c}`);
        if (offFor === 5 * 60 && parks > 0 && powertrain(p) === "ice") assert.ok(p.coolant_temp_c < offStartTemp - 3, `${vin}@${i} not cooling while parked`);
      }
      assert.ok(trips >= 1 && parks >= 1, `${vin}: ${trips} trip starts, ${parks} parkings`);
      assert.ok(list.some((p) => p.speed_kmh > 30), `${vin} never drove faster than 30 km/h`);
    }
  });

  it("has every powertrain, hybrids switch their engine on and off, and some trouble codes appear", () => {
    const all = [...byVin.values()];
    const kinds = new Set(all.map((l) => powertrain(l[0]!)));
    assert.deepEqual([...kinds].sort(), ["electric", "hybrid", "ice"]);
    for (const list of all.filter((l) => powertrain(l[0]!) === "hybrid")) {
      assert.ok(list.some((p) => p.ignition && p.speed_kmh > 0 && p.rpm === 0), "hybrid never drove electrically");
      assert.ok(list.some((p) => p.rpm > IDLE_RPM), "hybrid engine never ran");
    }
    const codes = all.reduce((n, l) => n + l.filter((p, i) => i > 0 && p.dtc_count > l[i - 1]!.dtc_count).length, 0);
    assert.ok(codes >= 1 && codes < 100, `${codes} new trouble codes in 40 vehicle-hours`);
  });

  it("positions move consistently with the odometer and stay around the depot", () => {
    for (const [vin, list] of byVin) {
      const start = list[0]!.position;
      for (let i = 1; i < list.length; i++) {
        const a = list[i - 1]!;
        const b = list[i]!;
        const dLat = (b.position.lat - a.position.lat) * 111.32;
        const dLon = (b.position.lon - a.position.lon) * 111.32 * Math.cos((a.position.lat * Math.PI) / 180);
        const moved = Math.hypot(dLat, dLon);
        const odo = b.odometer_km - a.odometer_km;
        assert.ok(moved <= odo + 0.002, `${vin}@${i} moved ${moved} km but odometer says ${odo}`);
        if (a.speed_kmh === 0 && b.speed_kmh === 0) assert.ok(moved < 0.002, `${vin}@${i} moved while stopped`);
        const fromStart = Math.hypot((b.position.lat - start.lat) * 111.32, (b.position.lon - start.lon) * 111.32 * 0.6);
        assert.ok(fromStart < 2 * (LIMITS.routeRadiusKm + 3), `${vin}@${i} wandered ${fromStart} km away`);
      }
    }
  });
});
