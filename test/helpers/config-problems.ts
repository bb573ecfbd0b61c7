import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../gateway/config/load.js";

/** The problems a ConfigError lists for `yaml` (fails the test when the config is valid). */
export function configProblems(yaml: string): string[] {
  try {
    parseConfig(yaml, "test.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}
