import { test } from "node:test";
import assert from "node:assert/strict";
import { loadConfigFile } from "../../gateway/config/load.js";
import { buildGateway } from "../../gateway/app.js";
import { readFileSync } from "node:fs";
import { renderExampleConfig } from "../../scripts/example-config.js";

test("deploy/edgegate.example.yaml is a valid config whose selectors and topics compile", () => {
  const config = loadConfigFile(new URL("../../deploy/edgegate.example.yaml", import.meta.url).pathname);
  assert.equal(config.topics.length, 2);
  assert.doesNotThrow(() => buildGateway(config));
});

test("deploy/edgegate.example.yaml is generated from the current schema (run `npm run docs`)", () => {
  const onDisk = readFileSync(new URL("../../deploy/edgegate.example.yaml", import.meta.url), "utf8");
  assert.equal(onDisk, renderExampleConfig());
});
