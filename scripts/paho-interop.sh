#!/usr/bin/env bash
# Runs Eclipse Paho's MQTT 3.1.1 interoperability tests (interoperability/client_test.py
# of https://github.com/eclipse/paho.mqtt.testing, not part of this repository) against
# edgegate's broker. Usage: scripts/paho-interop.sh PATH_TO_paho.mqtt.testing
# Needs python3 and a built edgegate (npm run build). The ACL denies test/nosubscribe
# (the suite's "subscribe failure" case expects SUBACK 0x80 there) and grants the
# `$TopicA` topics its "$ topics" case publishes to.
set -euo pipefail
paho="${1:?usage: $0 PATH_TO_paho.mqtt.testing}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'kill "${gw:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf 'topic deny test/nosubscribe\ntopic readwrite #\ntopic readwrite $TopicA/#\n' > "$work/paho.acl"
cat > "$work/paho.yaml" <<YAML
mqtt:
  listen: "127.0.0.1:$port"
  auth: {allow_anonymous: true, acl_file: paho.acl}
http: {listen: "127.0.0.1:0"}
storage: {path: "$work/paho.db"}
topics: [{topic: "vehicles/{vin}/telemetry"}]
remote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]
YAML
node "$repo/dist/gateway/main.js" --config "$work/paho.yaml" --log-level warn > "$work/gateway.log" 2>&1 &
gw=$!
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break; sleep 0.2; done
cp -r "$paho/interoperability" "$work/paho"
# client_test.py takes its host and port from constants in its __main__ block.
sed -i "s/^  port = 1883/  port = $port/; s/^  host = \"localhost\"/  host = \"127.0.0.1\"/" "$work/paho/client_test.py"
(cd "$work/paho" && python3 client_test.py)
