#!/usr/bin/env node
// The borders between edgegate's folders, as a test: runs dependency-cruiser with
// the rule set in .dependency-cruiser.cjs over the gateway, device-sim and bench,
// prints each violation and exits 1 if there is one. scripts/run-tests.mjs runs it
// before the test files. dependency-cruiser's CLI refuses Node 20; its API does not.
// `--stats`: also print the number of import cycles between folders (type-only imports included).
import { createRequire } from "node:module";
import { cruise } from "dependency-cruiser";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const require = createRequire(import.meta.url);
const ROOT = new URL("..", import.meta.url).pathname;
process.chdir(ROOT);
const rules = require(`${ROOT}.dependency-cruiser.cjs`);
const SOURCES = ["gateway", "device-sim", "bench"];

async function run(options) {
  const result = await cruise(SOURCES, { ...rules.options, ...options, validate: true, ruleSet: { forbidden: rules.forbidden } }, undefined, {
    tsConfig: extractTSConfig("tsconfig.json"),
  });
  return result.output;
}

const output = await run({});
const violations = output.summary.violations.filter((v) => v.rule.severity === "error");
for (const v of violations) {
  const via = v.cycle ? ` (cycle: ${v.cycle.map((c) => (typeof c === "string" ? c : c.name)).join(" → ")})` : "";
  console.error(`border violated: ${v.rule.name}: ${v.from} → ${v.to}${via}`);
}
console.error(`borders: ${output.summary.totalCruised} modules, ${violations.length} violation(s) of ${rules.forbidden.length} rules`);

if (process.argv.includes("--stats")) {
  const typed = await run({ tsPreCompilationDeps: true });
  const count = (o, name) => new Set(o.summary.violations.filter((v) => v.rule.name === name).map((v) => [v.from, v.to].sort().join(" ⇄ "))).size;
  console.error(`folder cycles: ${count(output, "no-folder-cycles")} (runtime imports), ${count(typed, "no-folder-cycles")} (type-only imports too); module cycles: ${count(output, "no-module-cycles")} / ${count(typed, "no-module-cycles")}`);
}
process.exit(violations.length > 0 ? 1 : 0);
