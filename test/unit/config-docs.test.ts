import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { renderConfigReference } from "../../scripts/config-reference.js";

test("docs/configuration.md is generated from the current schema (run `npm run docs`)", () => {
  const onDisk = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
  assert.equal(onDisk, renderConfigReference());
});
