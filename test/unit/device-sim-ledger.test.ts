import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LedgerWriter, mergeLedgers, readLedger, type LedgerRecord } from "../../device-sim/ledger.js";
import { encodeReadings, type Reading } from "../../device-sim/payloads.js";
import { recompute } from "../../device-sim/verify-expected.js";
import { parseConfig } from "../../gateway/config/load.js";
import type { TelemetryPayload } from "../../device-sim/vehicle.js";

const dir = mkdtempSync(join(tmpdir(), "device-sim-ledger-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const reading = (ts: number, speed: number, fleet = "north"): TelemetryPayload => ({
  ts, fleet, model: "sedan", speed_kmh: speed, rpm: 1000 + speed, fuel_level_ratio: 0.5, coolant_temp_c: 80, battery_voltage_v: 14,
  odometer_km: 100 + ts / 1000, position: { lat: 1, lon: 2 }, ignition: true, gear: 2, dtc_count: 0, mil_on: false,
});

async function records(path: string): Promise<LedgerRecord[]> {
  const out: LedgerRecord[] = [];
  for await (const r of readLedger(path)) out.push(r);
  return out;
}

function write(path: string, sends: [string, number, Reading[]][], mode: "telemetry" | "protobuf" = "telemetry"): void {
  const w = new LedgerWriter(path, { mode, seed: 1, qos: 1, started_at: 0 });
  for (const [vin, at, rs] of sends) w.record(vin, `vehicles/${vin}/telemetry`, at, encodeReadings(mode, rs), rs);
  w.close();
}

describe("delivery ledger", () => {
  it("records every delivered message and sums per vehicle and signal", async () => {
    const path = join(dir, "a.jsonl");
    write(path, [
      ["A", 1_000, [reading(1_000, 10)]],
      ["B", 1_100, [reading(1_000, 50, "south")]],
      ["A", 5_000, [reading(2_000, 30), reading(3_000, 20)]], // a backlog replay: original timestamps
    ]);
    const recs = await records(path);
    assert.equal(recs[0]!.type, "header");
    assert.equal(recs.filter((r) => r.type === "message").length, 3);
    const speedA = recs.find((r) => r.type === "signal" && r.vehicle === "A" && r.signal === "speed_kmh");
    assert.deepEqual(speedA, { type: "signal", vehicle: "A", signal: "speed_kmh", count: 3, sum: 60, min: 10, max: 30, first_ts: 1_000, last_ts: 3_000 });
    assert.equal(recs.filter((r) => r.type === "signal" && r.vehicle === "B").length, 12);
  });

  it("merges worker parts: one header, all messages, all summaries", async () => {
    const p1 = join(dir, "p1.jsonl");
    const p2 = join(dir, "p2.jsonl");
    write(p1, [["A", 1, [reading(1_000, 1)]]]);
    write(p2, [["B", 2, [reading(1_000, 2)]]], "protobuf");
    const merged = join(dir, "m.jsonl");
    await mergeLedgers(merged, [p1, p2]);
    const recs = await records(merged);
    assert.deepEqual(recs.map((r) => r.type), ["header", "message", "message", ...Array<string>(24).fill("signal")]);
    assert.ok(recs.some((r) => r.type === "message" && r.payload_base64 !== undefined));
  });

  it("rejects a file that is not a ledger, naming the line", async () => {
    const path = join(dir, "bad.jsonl");
    write(path, []);
    const { appendFileSync } = await import("node:fs");
    appendFileSync(path, "{oops\n");
    await assert.rejects(records(path), /bad\.jsonl:2: not JSON/);
  });
});

describe("verify's recomputation through the gateway's stages", () => {
  const config = parseConfig(
    `topics: [{topic: "vehicles/{vin}/telemetry", format: json, metric_prefix: "v_", timestamp_field: ts, label_fields: [fleet, model]}]
aggregation:
  - {match: '{__name__="v_speed_kmh"}', interval: 10s, by: [fleet], outputs: [avg, max, count_series, count_samples], allowed_lateness: 5s}
forward_unmatched: false
external_labels: {site: s1}
remote_write: [{url: "http://127.0.0.1:1/api/v1/write"}]`,
    "test",
  );

  it("computes windows by event time, drops a replay that arrives after the window closed, and adds external labels", async () => {
    const path = join(dir, "r.jsonl");
    write(path, [
      ["A", 1_000, [reading(1_000, 10)]],
      ["B", 2_000, [reading(2_000, 30)]],
      ["A", 12_000, [reading(11_000, 40)]],
      // A's backlog from 3 s and 4 s arrives at 16 s: window [0, 10 s) closed at 15 s → too late.
      ["A", 16_000, [reading(3_000, 99), reading(4_000, 99)]],
      ["B", 14_000, [reading(9_000, 20)]], // late but within allowed_lateness: counted
    ]);
    const e = await recompute(path, config);
    assert.equal(e.messages, 5);
    assert.equal(e.vehicles, 2);
    assert.equal(e.drops.get("too_late"), 2);
    const get = (name: string) => [...e.series.values()].find((s) => s.labels.__name__ === name);
    assert.deepEqual(get("v_speed_kmh:10s_by_fleet_avg")?.samples, [[10_000, 20], [20_000, 40]]);
    assert.deepEqual(get("v_speed_kmh:10s_by_fleet_max")?.samples, [[10_000, 30], [20_000, 40]]);
    assert.deepEqual(get("v_speed_kmh:10s_by_fleet_count_series")?.samples, [[10_000, 2], [20_000, 1]]);
    assert.deepEqual(get("v_speed_kmh:10s_by_fleet_count_samples")?.samples, [[10_000, 3], [20_000, 1]]);
    assert.deepEqual(get("v_speed_kmh:10s_by_fleet_avg")?.labels, { __name__: "v_speed_kmh:10s_by_fleet_avg", fleet: "north", site: "s1" });
    assert.ok([...e.series.values()].every((s) => s.kind === "aggregated"), "forward_unmatched: false → no raw series");
  });

  it("forwards raw series unchanged and applies the outbox's order guard", async () => {
    const path = join(dir, "raw.jsonl");
    write(path, [
      ["A", 1_000, [reading(1_000, 10)]],
      ["A", 2_000, [reading(2_000, 11)]],
      ["A", 3_000, [reading(1_500, 12)]], // older than what was already forwarded: out of order
    ]);
    const e = await recompute(path, parseConfig(`topics: [{topic: "vehicles/{vin}/telemetry", metric_prefix: "v_", timestamp_field: ts, label_fields: [fleet]}]\nremote_write: [{url: "http://h/w"}]`, "t"));
    const speed = [...e.series.values()].find((s) => s.labels.__name__ === "v_speed_kmh")!;
    assert.equal(speed.kind, "raw");
    assert.deepEqual(speed.samples, [[1_000, 10], [2_000, 11]]);
    assert.deepEqual(speed.labels, { __name__: "v_speed_kmh", vin: "A", fleet: "north" });
    assert.equal(e.drops.get("out_of_order"), 12);
  });

  it("applies the verified target's write_relabel_configs, as the gateway does before encoding", async () => {
    const path = join(dir, "wr.jsonl");
    write(path, [["A", 1_000, [reading(1_000, 10)]], ["B", 2_000, [reading(2_000, 11, "south")]]]);
    const yaml = (target: string) => `topics: [{topic: "vehicles/{vin}/telemetry", metric_prefix: "v_", timestamp_field: ts, label_fields: [fleet]}]
remote_write:
  - {url: "http://h/first"}
  - url: "http://h/second"
    write_relabel_configs:
      - {source_labels: [__name__], regex: "v_speed_kmh", action: keep}
      - {source_labels: [fleet], regex: "south", action: drop}
      - {regex: vin, action: labeldrop}
      - {target_label: via, replacement: "${target}"}`;
    const second = await recompute(path, parseConfig(yaml("second"), "t"), 1);
    assert.deepEqual([...second.series.values()].map((s) => [s.labels, s.samples]), [[{ __name__: "v_speed_kmh", fleet: "north", via: "second" }, [[1_000, 10]]]]);
    assert.equal(second.drops.get("write_relabel_drop"), 12 + 12 - 1);
    // The first target has no write_relabel_configs: every raw series, vin kept.
    const first = await recompute(path, parseConfig(yaml("second"), "t"));
    assert.equal(first.series.size, 24);
    assert.ok([...first.series.values()].every((s) => s.labels.vin !== undefined && s.labels.via === undefined));
  });
});
