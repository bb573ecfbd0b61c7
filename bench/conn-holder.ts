/**
 * A child process for the per-connection memory figure: opens N MQTT 3.1.1
 * connections (CONNECT as V%010d, one flink event PUBLISH each, QoS 0) to
 * argv[2] and holds them open until its stdin closes. Packets framed by
 * mqtt-packet on raw sockets, so the client side costs next to nothing and
 * runs outside the measured process.
 */
import { connect, type Socket } from "node:net";
import mqttPacket from "mqtt-packet";

const [host, portText, countText] = [process.argv[2]!, process.argv[3]!, process.argv[4]!];
const count = Number(countText);

const sockets: Socket[] = [];
let acked = 0;
const BATCH = 200;
async function main(): Promise<void> {
  for (let i = 0; i < count; i += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, count - i) }, (_, k) => {
        const id = `V${String(i + k).padStart(10, "0")}`;
        return new Promise<void>((resolve, reject) => {
          const s = connect(Number(portText), host);
          sockets.push(s);
          s.once("error", reject);
          s.once("data", () => {
            acked++;
            const event = JSON.stringify({ eventType: "IC_RPM", vehicleId: id, region: "UK", timestamp: Date.now(), measurement: 0 });
            s.write(mqttPacket.generate({ cmd: "publish", topic: `fleet/UK/${id}/events`, payload: event, qos: 0, dup: false, retain: false }));
            resolve();
          });
          s.write(mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, keepalive: 60, clientId: id }));
        });
      }),
    );
  }
  process.stdout.write(`connected ${acked}\n`);
}
process.stdin.on("end", () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
process.stdin.resume();
main().catch((err: unknown) => {
  process.stderr.write(`conn-holder: ${String(err)}\n`);
  process.exit(1);
});
