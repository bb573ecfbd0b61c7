/**
 * Memory per idle MQTT connection, run as its own process (`node --expose-gc
 * --import tsx bench/conn-memory.ts gateway|aedes N`): the gateway built from
 * the shipped deploy/examples/flink-demo.yaml (addresses and storage
 * rewritten), or the baseline, bare aedes on a net.Server with a publish
 * handler that only parses the JSON. bench/conn-holder.ts (another process)
 * opens N connections, each CONNECT + one flink event; after full GCs the
 * growth of RSS, heap and external memory is divided by N. Prints one JSON line.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";
import { buildGateway } from "../gateway/app.js";
import { parseConfig } from "../gateway/config/load.js";

const REPO = join(import.meta.dirname, "..");
const [kind = "gateway", countText = "10000"] = process.argv.slice(2);
const count = Number(countText);
const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc");

const dir = mkdtempSync(join(tmpdir(), "edgegate-conn-memory-"));
let port: number;
let close: () => Promise<void>;
if (kind === "gateway") {
  const yaml = readFileSync(join(REPO, "deploy", "examples", "flink-demo.yaml"), "utf8")
    .replace('listen: "0.0.0.0:1883"', 'listen: "127.0.0.1:0"')
    .replace('listen: "0.0.0.0:9480"', 'listen: "127.0.0.1:0"')
    .replace('path: "./data/flink-demo.db"', `path: "${join(dir, "outbox.db")}"`)
    .replace("file: vehicles.csv", `file: ${join(REPO, "deploy", "examples", "vehicles.csv")}`)
    .replace('url: "http://127.0.0.1:9090/api/v1/write"', 'url: "http://127.0.0.1:9/api/v1/write"');
  const gw = buildGateway(parseConfig(yaml, "flink-demo.yaml"));
  await gw.start();
  port = Number(gw.mqttAddress().split(":").pop());
  close = () => gw.close();
} else {
  const broker = await Aedes.createBroker();
  broker.on("publish", (p) => {
    if (p.topic.startsWith("fleet/")) JSON.parse(p.payload.toString());
  });
  const server = net.createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
  close = () => new Promise((r) => server.close(() => broker.close(() => r())));
}

const settle = async (): Promise<NodeJS.MemoryUsage> => {
  await new Promise((r) => setTimeout(r, 1000));
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage();
};
const before = await settle();
const holder = spawn(process.execPath, ["--import", "tsx", join(REPO, "bench", "conn-holder.ts"), "127.0.0.1", String(port), String(count)], { stdio: ["pipe", "pipe", "inherit"] });
await new Promise<void>((resolve, reject) => {
  holder.stdout!.on("data", (d: Buffer) => d.toString().includes("connected") && resolve());
  holder.once("exit", (code) => reject(new Error(`conn-holder exited with ${code}`)));
});
const after = await settle();
const per = (k: keyof NodeJS.MemoryUsage): number => (after[k] - before[k]) / count;
process.stdout.write(
  `${JSON.stringify({ kind, count, rss_mb: after.rss / 2 ** 20, heap_used_mb: after.heapUsed / 2 ** 20, rss_per_conn: per("rss"), heap_used_per_conn: per("heapUsed"), heap_total_per_conn: per("heapTotal"), external_per_conn: per("external") })}\n`,
);
holder.stdin!.end();
await close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
