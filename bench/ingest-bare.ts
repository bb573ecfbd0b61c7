/**
 * The ingest benchmark's baseline, run as its own process: bare aedes (same
 * version as the gateway's) on a loopback port, with an in-process consumer
 * that only parses each payload as JSON. It prints `{"mqtt":port,"http":port}`
 * and answers `GET /` with the number of messages parsed so far (the bench
 * polls it as it polls the gateway's /metrics).
 */
import { createServer as createTcpServer } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { Aedes } from "aedes";

let parsed = 0;
let fields = 0;
const aedes = await Aedes.createBroker();
aedes.published = (packet, client, done) => {
  if (client) {
    const doc = JSON.parse(packet.payload.toString()) as Record<string, unknown>;
    for (const _ in doc) fields++;
    parsed++;
  }
  done();
};
const mqtt = createTcpServer(aedes.handle);
await new Promise<void>((r) => mqtt.listen(0, "127.0.0.1", r));
const http = createHttpServer((_req, res) => res.end(`${parsed} ${fields}\n`));
await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
const port = (s: { address(): unknown }) => (s.address() as { port: number }).port;
process.stdout.write(JSON.stringify({ mqtt: port(mqtt), http: port(http) }) + "\n");
process.on("SIGTERM", () => process.exit(0));
