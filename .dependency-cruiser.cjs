/**
 * edgegate's borders, checked by `npm test` (scripts/run-tests.mjs runs
 * dependency-cruiser before the tests; a violation fails the run). The README's
 * "Architecture" section draws the same picture: each folder is one stage.
 */
const AREAS = "^gateway/(prom|config|ingest|pipeline|outbox|remote-write|http|metrics|registry)/";

module.exports = {
  forbidden: [
    {
      name: "no-folder-cycles",
      comment: "Folders must not import each other in a circle: the data flows one way, and a folder can be understood from the ones it imports.",
      severity: "error",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-module-cycles",
      comment: "No module imports itself through others.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "prom-is-self-contained",
      comment: "gateway/prom (Prometheus semantics) imports nothing of the gateway: everyone may use it, it uses no one.",
      severity: "error",
      from: { path: "^gateway/prom/" },
      to: { path: "^gateway/", pathNot: "^gateway/prom/" },
    },
    {
      name: "ingest-never-imports-remote-write",
      comment: "ingest turns bytes into samples; what happens to them downstream is not its business.",
      severity: "error",
      from: { path: "^gateway/ingest/" },
      to: { path: "^gateway/(remote-write|pipeline|outbox)/" },
    },
    {
      name: "remote-write-never-imports-ingest-or-pipeline",
      comment: "remote-write encodes and sends samples; it knows neither where they came from nor how they were processed.",
      severity: "error",
      from: { path: "^gateway/remote-write/" },
      to: { path: "^gateway/(ingest|pipeline)/" },
    },
    {
      name: "outbox-never-imports-remote-write",
      comment: "The outbox stores opaque named queues of encoded batches; how they are named and grouped per target is remote-write's, handed in by the composition root.",
      severity: "error",
      from: { path: "^gateway/outbox/" },
      to: { path: "^gateway/remote-write/" },
    },
    {
      name: "device-sim-through-the-core-only",
      comment:
        "device-sim is a client of the gateway: it uses it only through gateway/core.ts, the core's public entry, and gateway/config/load.ts, the config loader's (not re-exported by core.ts, so the running gateway does not load the validator).",
      severity: "error",
      from: { path: "^device-sim/" },
      to: { path: "^gateway/", pathNot: "^gateway/(core|config/load)\\.ts$" },
    },
    {
      name: "gateway-never-imports-clients",
      comment: "The gateway does not depend on its simulator, its tests or its benchmarks.",
      severity: "error",
      from: { path: "^gateway/" },
      to: { path: "^(device-sim|test|bench|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist)/" },
    tsPreCompilationDeps: false,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".json"], extensionAlias: { ".js": [".ts", ".js"] } },
  },
};
