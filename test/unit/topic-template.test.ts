import { test } from "node:test";
import assert from "node:assert/strict";
import { compileTopicTemplate } from "../../gateway/ingest/topic-template.js";

const cases: { template: string; topic: string; want: string[] | null }[] = [
  { template: "vehicles/{vin}/telemetry", topic: "vehicles/ABC123/telemetry", want: ["ABC123"] },
  { template: "vehicles/{vin}/telemetry", topic: "vehicles/ABC123/status", want: null },
  { template: "vehicles/{vin}/telemetry", topic: "vehicles/ABC123/telemetry/extra", want: null },
  { template: "vehicles/{vin}/telemetry", topic: "vehicles/ABC123", want: null },
  { template: "vehicles/{vin}/telemetry", topic: "vehicles//telemetry", want: null },
  { template: "vehicles/{vin}/telemetry", topic: "vehiclesX/ABC/telemetry", want: null },
  { template: "fleet/{region}/{vehicleId}/events", topic: "fleet/UK/V0000000001/events", want: ["UK", "V0000000001"] },
  { template: "sensors/+/{sensor}", topic: "sensors/room1/temp", want: ["temp"] },
  { template: "sensors/+/{sensor}", topic: "sensors/room1/a/temp", want: null },
  { template: "site/{site}/#", topic: "site/berlin/line1/press/3", want: ["berlin"] },
  { template: "site/{site}/#", topic: "site/berlin", want: ["berlin"] }, // [MQTT-4.7.1-2]: "#" also matches the parent
  { template: "#", topic: "anything/at/all", want: [] },
  { template: "#", topic: "$SYS/broker/load", want: null }, // [MQTT-4.7.2-1]
  { template: "a/b", topic: "a/b", want: [] },
  { template: "a/b", topic: "a/bc", want: null },
];

for (const c of cases) {
  test(`${c.template} vs ${c.topic}`, () => {
    assert.deepEqual(compileTopicTemplate(c.template).match(c.topic), c.want);
  });
}

test("labels lists the bound names in order", () => {
  assert.deepEqual(compileTopicTemplate("fleet/{region}/{vehicleId}/events").labels, ["region", "vehicleId"]);
});

for (const bad of ["a/#/b", "a/{1x}/b", "a/{v}/{v}", "a/b+c", "a/x{v}", "a/{__name__}", ""]) {
  test(`rejects template ${JSON.stringify(bad)}`, () => {
    assert.throws(() => compileTopicTemplate(bad));
  });
}
