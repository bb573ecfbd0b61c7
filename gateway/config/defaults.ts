/**
 * The embedded default configuration: what `edgegate` runs without `--config`.
 * It fits the simulated fleet (`device-sim`), so `npm run demo` shows real
 * roll-ups with no file to write. Every key not given here takes the schema's
 * default (gateway/config/schema.ts).
 */
export const DEFAULT_CONFIG_YAML = `# edgegate built-in defaults (printed by: edgegate --print-defaults)
# Loopback only, like Mosquitto 2 without a listener: anonymous clients are
# accepted because nothing but this machine can reach the ports.
mqtt:
  listen: "127.0.0.1:1883"
  auth:
    allow_anonymous: true
http:
  listen: "127.0.0.1:9480"
storage:
  path: "./data/edgegate.db"
topics:
  - topic: "vehicles/{vin}/telemetry"
    format: json
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet, model]
aggregation:
  # Per-fleet roll-ups of every vehicle signal: 10 s windows, event time.
  - match: '{__name__=~"vehicle_.*"}'
    interval: 10s
    by: [fleet]
    outputs: [avg, min, max, count_series]
forward_unmatched: true
remote_write:
  - url: "http://127.0.0.1:9090/api/v1/write"
`;
