/**
 * `npm run demo`: the gateway with its built-in defaults, a simulated fleet
 * publishing to it, and what arrives at the other end.
 *
 * Where a Prometheus with the remote-write receiver answers (default
 * http://127.0.0.1:9090, or --prometheus URL), the roll-ups go there and the
 * demo queries them back. Otherwise they go to edgegate's built-in debugging
 * receiver (`edgegate receive`), which prints every series and sample.
 *
 *   npm run demo -- [--vehicles 20] [--duration 35s] [--prometheus URL]
 */
import { mkdirSync } from "node:fs";
import { Writable } from "node:stream";
import { Command } from "commander";
import pino from "pino";
import { buildGateway, type Gateway } from "../gateway/app.js";
import { defaultConfig } from "../gateway/config/load.js";
import { parseDuration } from "../gateway/prom/duration.js";
import { startDebugReceiver } from "../gateway/remote-write/receiver.js";
import { startFleet } from "../device-sim/fleet.js";

const opts = new Command()
  .name("npm run demo --")
  .option("--vehicles <n>", "simulated vehicles", "20")
  .option("--duration <d>", "how long the fleet drives", "35s")
  .option("--prometheus <url>", "Prometheus base URL to use when it answers", "http://127.0.0.1:9090")
  .option("--free-ports", "listen on free loopback ports instead of 1883 / 9480")
  .parse()
  .opts<{ vehicles: string; duration: string; prometheus: string; freePorts?: boolean }>();

// One live status line at the bottom of a terminal (rewritten in place); elsewhere
// (CI logs, pipes) a plain line every 5 s. Everything else printed goes above it.
const tty = process.stdout.isTTY === true;
let live = "";
function print(text: string): void {
  if (tty && live !== "") process.stdout.write("\r\x1b[K");
  process.stdout.write(text);
  if (tty && live !== "") process.stdout.write(live);
}
const say = (s: string) => print(`[demo] ${s}\n`);
const n0 = (x: number) => Math.round(x).toLocaleString("en-US");
const ratio = (inN: number, outN: number) => (outN > 0 ? `${(inN / outN).toFixed(1)} : 1` : "–");

/** The debugging receiver's lines with values rounded for reading (`47.28333333` → `47.3`); timestamps untouched. */
const rounded = new Writable({
  write(chunk: Buffer, _enc, cb) {
    print(chunk.toString("utf8").replace(/^(\S+\{[^}]*\}) (-?\d+\.\d+(?:e-?\d+)?) @/gm, (_m, head: string, v: string) => `${head} ${Number(Number(v).toPrecision(4))} @`));
    cb();
  },
});

async function prometheusUp(base: string): Promise<boolean> {
  try {
    // An empty write answers 204 (or 400) only if the receiver is enabled; 404 means it is not.
    const res = await fetch(`${base}/api/v1/write`, { method: "POST", body: new Uint8Array(0), signal: AbortSignal.timeout(1000) });
    return res.status !== 404;
  } catch {
    return false;
  }
}

async function startGatewayOnFreePorts(log: pino.Logger, url: string): Promise<Gateway> {
  const config = defaultConfig();
  config.remote_write = [{ ...config.remote_write[0]!, url }];
  config.storage.path = "./data/demo.db";
  mkdirSync("./data", { recursive: true });
  if (opts.freePorts) {
    config.mqtt.listen = "127.0.0.1:0";
    config.http.listen = "127.0.0.1:0";
  }
  const gw = buildGateway(config, { log });
  try {
    await gw.start();
    return gw;
  } catch (err) {
    await gw.close();
    // The default ports are taken (another broker on 1883?): fall back to ephemeral ones.
    say(`default ports busy (${(err as Error).message}); using free ports instead`);
    config.mqtt.listen = "127.0.0.1:0";
    config.http.listen = "127.0.0.1:0";
    const again = buildGateway(config, { log });
    await again.start();
    return again;
  }
}

const vehicles = Number(opts.vehicles);
const durationMs = parseDuration(opts.duration);
const log = pino({ level: "warn" });

let receiver: Awaited<ReturnType<typeof startDebugReceiver>> | null = null;
let writeUrl = `${opts.prometheus}/api/v1/write`;
const usePrometheus = await prometheusUp(opts.prometheus);
if (usePrometheus) {
  say(`Prometheus answers at ${opts.prometheus}: sending there`);
} else {
  receiver = await startDebugReceiver({ listen: "127.0.0.1:0", out: rounded });
  writeUrl = receiver.url;
  say(`no Prometheus at ${opts.prometheus}; printing what arrives with the built-in receiver (${receiver.url})`);
}

const gw = await startGatewayOnFreePorts(log, writeUrl);
say(`edgegate: MQTT on ${gw.mqttAddress()}, HTTP on http://${gw.httpAddress()} (try /metrics and /api/v1/status)`);
say(`device-sim: ${vehicles} vehicles for ${opts.duration}; roll-ups are 10 s windows per fleet, flushed 5 s after each window ends`);
const port = gw.mqttAddress().slice(gw.mqttAddress().lastIndexOf(":") + 1);

/** Totals read from the gateway's own counters (the figures /metrics exports). */
async function totals() {
  const sum = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((n, v) => n + v.value, 0);
  return {
    messages: await sum(gw.metrics.mqttMessagesReceived),
    samplesIn: await sum(gw.metrics.samplesIn),
    samplesOut: await sum(gw.metrics.samplesOut),
    delivered: await sum(gw.metrics.rwSamplesSent),
  };
}

const t0 = Date.now();
let prevMessages = 0;
let prevAt = t0;
const progress = setInterval(
  () =>
    void totals().then((t) => {
      const now = Date.now();
      const rate = ((t.messages - prevMessages) * 1000) / Math.max(1, now - prevAt);
      prevMessages = t.messages;
      prevAt = now;
      const line =
        `[demo] ${Math.round((now - t0) / 1000)}/${Math.round(durationMs / 1000)} s  devices ${gw.status().mqtt.connected_clients}/${vehicles}` +
        `  messages ${n0(t.messages)} (${rate.toFixed(1)}/s)  samples in ${n0(t.samplesIn)}  out ${n0(t.samplesOut)}  reduction ${ratio(t.samplesIn, t.samplesOut)}  delivered ${n0(t.delivered)}`;
      if (tty) {
        live = line;
        process.stdout.write("\r\x1b[K" + line);
      } else process.stdout.write(line + "\n");
    }),
  tty ? 500 : 5000,
);
const fleet = await startFleet({ url: `mqtt://127.0.0.1:${port}`, vehicles, intervalMs: 1000, durationMs, seed: 42 });
const stats = await fleet.done;
clearInterval(progress);
if (tty && live !== "") process.stdout.write("\r\x1b[K");
live = "";
say(`fleet done: ${n0(stats.sent)} messages sent by ${stats.vehicles} vehicles`);
await gw.close(); // flushes the open windows and sends them
const status = gw.status();
const t = await totals();
say(`edgegate: ${n0(t.delivered)} samples delivered; ${status.outbox.rows} batches left in the outbox`);
say(
  `summary: ${n0(t.samplesIn)} samples in (from ${n0(t.messages)} messages) → ${n0(t.samplesOut)} samples out; ` +
    `reduction ${ratio(t.samplesIn, t.samplesOut)} (${t.samplesIn > 0 ? (100 * (1 - t.samplesOut / t.samplesIn)).toFixed(1) : "0"} % fewer samples leave the box)`,
);

if (usePrometheus) {
  const q = `vehicle_speed_kmh:10s_by_fleet_avg`;
  const res = await fetch(`${opts.prometheus}/api/v1/query?${new URLSearchParams({ query: `last_over_time(${q}[5m])` })}`);
  const body = (await res.json()) as { data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  for (const r of body.data?.result ?? []) say(`Prometheus: ${q}{fleet="${r.metric.fleet}"} = ${Number(r.value[1]).toFixed(1)} km/h`);
  say(`open ${opts.prometheus}/graph?g0.expr=${encodeURIComponent(q)} to see them`);
}
await receiver?.close();
process.exit(0);
