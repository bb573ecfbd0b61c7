/**
 * A child process for the per-connection memory figure: opens N MQTT 3.1.1
 * connections (CONNECT as V%010d, one flink event PUBLISH each, QoS 0) to
 * argv[2] and holds them open until its stdin closes. Raw packets, so the
 * client side costs next to nothing and runs outside the measured process.
 */
import { connect, type Socket } from "node:net";

const [host, portText, countText] = [process.argv[2]!, process.argv[3]!, process.argv[4]!];
const count = Number(countText);

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length >> 8, s.length & 255]), Buffer.from(s)]);
const packet = (first: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);

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
            s.write(packet(0x30, Buffer.concat([str(`fleet/UK/${id}/events`), Buffer.from(event)])));
            resolve();
          });
          s.write(packet(0x10, Buffer.concat([str("MQTT"), Buffer.from([4, 2, 0, 60]), str(id)])));
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
