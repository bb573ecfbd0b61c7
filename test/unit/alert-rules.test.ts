import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

const dir = new URL("../../deploy/prometheus/", import.meta.url).pathname;
const promtool = spawnSync("promtool", ["--version"]).status === 0;
const skip = promtool ? false : "promtool not installed (Debian package `prometheus`)";

test("deploy/prometheus/edgegate-alerts.yml passes promtool check rules", { skip }, () => {
  const r = spawnSync("promtool", ["check", "rules", "edgegate-alerts.yml"], { cwd: dir, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: 7 rules found/);
});

test("the alerting rules fire as their unit tests expect (promtool test rules)", { skip }, () => {
  const r = spawnSync("promtool", ["test", "rules", "edgegate-alerts.test.yml"], { cwd: dir, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS/);
});
