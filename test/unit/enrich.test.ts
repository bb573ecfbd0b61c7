import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { enrichSchema } from "../../gateway/config/schema-enrich.js";
import { DeviceRegistry } from "../../gateway/registry/registry.js";
import { EnrichStage } from "../../gateway/pipeline/enrich.js";
import { parseCsv } from "../../gateway/registry/csv.js";
import type { Sample } from "../../gateway/prom/sample.js";

const dir = mkdtempSync(join(tmpdir(), "edgegate-enrich-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(ext: string, text: string): string {
  const p = join(dir, `r${n++}${ext}`);
  writeFileSync(p, text);
  return p;
}
const sample = (labels: Record<string, string>): Sample => ({ labels: { __name__: "m", ...labels }, value: 1, timestamp: 0 });

describe("parseCsv (RFC 4180)", () => {
  const table: [string, string[][]][] = [
    ["a,b\n1,2\n", [["a", "b"], ["1", "2"]]],
    ["a,b\r\n1,2", [["a", "b"], ["1", "2"]]],
    ['a,b\n"x,y","say ""hi"""\n', [["a", "b"], ["x,y", 'say "hi"']]],
    ['a\n"multi\nline"\n', [["a"], ["multi\nline"]]],
    ["a,b\n,\n", [["a", "b"], ["", ""]]],
    ["\ufeffa\n1\n\n", [["a"], ["1"]]],
  ];
  for (const [text, want] of table) it(JSON.stringify(text), () => assert.deepEqual(parseCsv(text), want));
  for (const bad of ['a,"b"c\n', 'a"b\n', '"abc']) it(`malformed ${JSON.stringify(bad)}`, () => assert.throws(() => parseCsv(bad), /line 1/));
});

describe("DeviceRegistry + EnrichStage", () => {
  const csv = "vin,model,fleet,region,customer\nV1,e-van,north,eu-west,acme\nV2,truck,south,eu-south,\n";

  function build(cfg: Record<string, unknown>) {
    const config = enrichSchema.parse(cfg);
    const reloads: (string | null)[] = [];
    const registry = new DeviceRegistry(config, { onReload: (_r, err) => reloads.push(err ? err.message : null) });
    const misses: [string, number][] = [];
    const stage = new EnrichStage([config], [registry], (r, k) => misses.push([r, k]));
    return { registry, stage, misses, reloads };
  }

  it("adds the registry's labels; an empty cell sets none; a miss gets defaults and is counted", () => {
    const { stage, misses } = build({ name: "vehicles", key_label: "vin", file: file(".csv", csv), defaults: { model: "unknown" } });
    const out = stage.process([sample({ vin: "V1" }), sample({ vin: "V2" }), sample({ vin: "V9" }), sample({ other: "x" })]);
    assert.deepEqual(out.map((s) => s.labels), [
      { __name__: "m", vin: "V1", model: "e-van", fleet: "north", region: "eu-west", customer: "acme" },
      { __name__: "m", vin: "V2", model: "truck", fleet: "south", region: "eu-south" },
      { __name__: "m", vin: "V9", model: "unknown" },
      { __name__: "m", other: "x" },
    ]);
    assert.deepEqual(misses, [["vehicles", 1]]);
  });

  it("labels selects columns; the sample's own label wins unless override", () => {
    const p = file(".csv", csv);
    const keep = build({ name: "r", key_label: "vin", file: p, labels: ["model", "fleet"] });
    assert.deepEqual(keep.stage.process([sample({ vin: "V1", fleet: "mine" })])[0]!.labels, { __name__: "m", vin: "V1", fleet: "mine", model: "e-van" });
    const over = build({ name: "r", key_label: "vin", file: p, labels: ["fleet"], override: true });
    assert.deepEqual(over.stage.process([sample({ vin: "V1", fleet: "mine" })])[0]!.labels, { __name__: "m", vin: "V1", fleet: "north" });
  });

  it("YAML: a list of objects or a map key → object; key_field names the key column", () => {
    const list = build({ name: "r", key_label: "vehicleId", key_field: "id", file: file(".yaml", "- {id: V1, model: A}\n- {id: V2, model: B, year: 2020}\n") });
    assert.deepEqual(list.stage.process([sample({ vehicleId: "V2" })])[0]!.labels, { __name__: "m", vehicleId: "V2", model: "B", year: "2020" });
    const map = build({ name: "r", key_label: "vehicleId", file: file(".yml", "V1: {model: A}\nV2: {model: B}\n") });
    assert.deepEqual(map.stage.process([sample({ vehicleId: "V1" })])[0]!.labels, { __name__: "m", vehicleId: "V1", model: "A" });
  });

  it("reloads a changed file; a failed reload keeps the previous data and is reported", () => {
    const p = file(".csv", "vin,model\nV1,a\n");
    const { registry, stage, reloads } = build({ name: "r", key_label: "vin", file: p });
    assert.equal(registry.reload(), false); // unchanged: nothing loaded
    writeFileSync(p, "vin,model\nV1,b\n");
    utimesSync(p, new Date(), new Date(Date.now() + 5000));
    assert.equal(registry.reload(), true);
    assert.equal(stage.process([sample({ vin: "V1" })])[0]!.labels["model"], "b");
    writeFileSync(p, 'vin,model\nV1,"broken\n');
    utimesSync(p, new Date(), new Date(Date.now() + 10000));
    assert.equal(registry.reload(), false);
    assert.equal(stage.process([sample({ vin: "V1" })])[0]!.labels["model"], "b");
    assert.equal(reloads.length, 3);
    assert.equal(reloads[0], null);
    assert.equal(reloads[1], null);
    assert.match(reloads[2]!, /unterminated quoted field/);
  });

  it("a registry that cannot be loaded at start is an error", () => {
    assert.throws(() => build({ name: "r", key_label: "vin", file: join(dir, "missing.csv") }), /ENOENT/);
    assert.throws(() => build({ name: "r", key_label: "vin", file: file(".csv", "id,model\nV1,a\n") }), /no key column "vin"/);
    assert.throws(() => build({ name: "r", key_label: "vin", file: file(".csv", "vin,Model Name\nV1,a\n") }), /not a valid label name/);
    assert.throws(() => build({ name: "r", key_label: "vin", file: file(".csv", csv), labels: ["modle"] }), /modle/);
    assert.throws(() => build({ name: "r", key_label: "vin", file: file(".csv", "vin\nV1\nV2\nV3\n"), max_entries: 2 }), /max_entries/);
    assert.equal(enrichSchema.safeParse({ name: "r", key_label: "vin" }).success, false);
  });

  it("SQLite table: polled by data_version, wins over the file for the same key", () => {
    const dbPath = join(dir, "reg.db");
    const w = new Database(dbPath);
    w.exec("CREATE TABLE vehicles (vin TEXT PRIMARY KEY, model TEXT, year INTEGER)");
    w.prepare("INSERT INTO vehicles VALUES (?, ?, ?)").run("V1", "from-db", 2021);
    const { registry, stage } = build({ name: "r", key_label: "vin", file: file(".csv", "vin,model\nV1,from-file\nV5,file-only\n"), sqlite: { path: dbPath, table: "vehicles" } });
    const model = (vin: string) => stage.process([sample({ vin })])[0]!.labels["model"];
    assert.equal(model("V1"), "from-db");
    assert.equal(model("V5"), "file-only");
    assert.equal(registry.reload(), false);
    w.prepare("INSERT INTO vehicles VALUES (?, ?, ?)").run("V2", "new", null);
    assert.equal(registry.reload(), true);
    assert.equal(model("V2"), "new");
    registry.close();
    w.close();
  });
});
