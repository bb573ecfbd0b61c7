import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../gateway/config/load.js";
import { expandEnv } from "../../gateway/config/env.js";

const YAML = `
external_labels: {site: "\${SITE}", depot: "d-\${DEPOT_NO}"}
topics: [{topic: "v/{vin}"}]
relabel_configs:
  - {source_labels: [vin], regex: "(.*)", target_label: id, replacement: "\${1}-$1-$$HOME"}
remote_write:
  - url: "\${RW_URL}"
    basic_auth: {username: edge, password: "\${RW_PASSWORD}"}
# - url: "\${COMMENTED_OUT}"
`;

test("${VAR} expands from the environment; ${1} and $1 stay for relabel; $$ is a literal $; comments are skipped", () => {
  const env = { SITE: "depot-7", DEPOT_NO: "7", RW_URL: "http://10.0.0.1:9090/api/v1/write", RW_PASSWORD: "s3cr#t: x" };
  const config = parseConfig(YAML, "t.yaml", env);
  assert.deepEqual(config.external_labels, { site: "depot-7", depot: "d-7" });
  assert.equal(config.remote_write[0]!.url, env.RW_URL);
  assert.equal(config.remote_write[0]!.basic_auth?.password, "s3cr#t: x");
  assert.equal(config.relabel_configs[0]!.replacement, "${1}-$1-$HOME");
});

test("an unset variable is an error naming it and its line; every one is listed", () => {
  assert.throws(
    () => parseConfig(YAML, "t.yaml", { SITE: "x", RW_URL: "http://h/api/v1/write" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 2, err.message);
      assert.match(err.problems[0]!, /^line 2: environment variable DEPOT_NO is not set/);
      assert.match(err.problems[1]!, /^line 8: environment variable RW_PASSWORD is not set/);
      return true;
    },
  );
  // An empty value is a value (as in the shell), not an error.
  assert.equal(expandEnv("a: ${E}", "t", { E: "" }), "a: ");
});
