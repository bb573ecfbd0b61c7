/** The rules every benchmark runs: the default config's shape (JSON vehicle telemetry, per-fleet 10 s roll-ups). */
export const BENCH_RULES_YAML = `topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet, model]
aggregation:
  - match: '{__name__=~"vehicle_.*"}'
    interval: 10s
    by: [fleet]
    outputs: [avg, min, max, count_series]
remote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]
`;
