import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigIsolated } from "../../gateway/config/load-isolated.js";
import { ConfigError, defaultConfig, loadConfigFile } from "../../gateway/config/load.js";
import { REPO } from "../helpers/gateway-process.js";

// The gateway validates its config in a worker thread (so the validator stays out of its memory):
// what crosses the thread boundary must be exactly what loadConfigFile returns.

test("a config validated in the worker thread equals the one loadConfigFile returns (defaults, the example, the Flink demo)", async () => {
  assert.deepStrictEqual(await loadConfigIsolated(), defaultConfig());
  for (const f of ["deploy/edgegate.example.yaml", "deploy/examples/flink-demo.yaml", "deploy/edgegate.container.yaml"]) {
    const path = join(REPO, f);
    assert.deepStrictEqual(await loadConfigIsolated(path), loadConfigFile(path), f);
  }
});

test("an invalid config is refused with a ConfigError naming the key, as loadConfigFile does; ${ENV_VAR}s expand from the process environment", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-isolated-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, `topics: [{topic: "a/{id}"}]\nremote_write:\n  - url: "http://127.0.0.1:9/api/v1/write"\n    queue_config: {min_backoff: "soon"}\n`);
  const err = await loadConfigIsolated(bad).then(
    () => assert.fail("accepted"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, String(err));
  assert.equal(err.source, bad);
  assert.throws(() => loadConfigFile(bad), (direct: unknown) => direct instanceof ConfigError && assert.deepEqual(err.problems, direct.problems) === undefined);
  assert.match(err.problems.join("\n"), /remote_write\[0\]\.queue_config\.min_backoff/);
  await assert.rejects(loadConfigIsolated(join(dir, "missing.yaml")), (e: unknown) => e instanceof ConfigError && /cannot read file/.test(e.message));

  const withEnv = join(dir, "env.yaml");
  writeFileSync(withEnv, 'topics: [{topic: "a/{id}"}]\nremote_write:\n  - url: "${EDGEGATE_TEST_ISOLATED_URL}"\n');
  process.env.EDGEGATE_TEST_ISOLATED_URL = "http://127.0.0.1:9/isolated";
  t.after(() => delete process.env.EDGEGATE_TEST_ISOLATED_URL);
  assert.equal((await loadConfigIsolated(withEnv)).remote_write[0]!.url, "http://127.0.0.1:9/isolated");
});
