import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { buildGateway } from "../../gateway/app.js";
import { loadConfigFile } from "../../gateway/config/load.js";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { REPO } from "../helpers/gateway-process.js";

const MAIN = join(REPO, "dist", "gateway", "main.js");
const notBuilt = existsSync(MAIN) ? false : "dist/ not built (npm run build)";

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => "\\" + c)} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

// Windows of 1 h with 1 h lateness: nothing closes during the test unless the gateway flushes at shutdown.
const rules = (secondOutputs: string) => `
aggregation:
  - match: 'dev_speed'
    interval: 1h
    allowed_lateness: 1h
    without: [id]
    outputs: [count_samples, sum_samples]
  - match: 'dev_temp'
    interval: 1h
    allowed_lateness: 1h
    without: [id]
    outputs: [${secondOutputs}]
forward_unmatched: false
`;

test("SIGHUP: new topic rules, stages and targets without dropping MQTT connections or open windows; a bad file is refused", { skip: notBuilt, timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-reload-"));
  const rx1 = await startFakeReceiver();
  const rx2 = await startFakeReceiver();
  t.after(async () => {
    await rx1.close();
    await rx2.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const cfg = join(dir, "edgegate.yaml");
  const head = `mqtt: {listen: "127.0.0.1:0"}\nhttp: {listen: "127.0.0.1:0"}\nstorage: {path: "${join(dir, "o.db")}", flush_interval: 100ms}\n`;
  writeFileSync(cfg, `${head}topics: [{topic: "a/{id}", format: json, metric_prefix: "dev_"}]\n${rules("max")}remote_write: [{url: "${rx1.url}", name: one}]\n`);
  const child = spawn(process.execPath, [MAIN, "--config", cfg, "--log.format=json"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const started = await until("edgegate started", () => {
    const line = out.split("\n").find((l) => l.includes('"edgegate started"'));
    return line ? (JSON.parse(line) as { mqtt: string; http: string }) : undefined;
  });
  const http = `http://${started.http}`;
  const device = await mqtt.connectAsync(`mqtt://${started.mqtt}`, { clientId: "dev-1", protocolVersion: 4, reconnectPeriod: 0 });
  let disconnected = false;
  device.on("close", () => (disconnected = true));
  const ts = Date.now();
  for (let i = 0; i < 5; i++) await device.publishAsync("a/dev-1", JSON.stringify({ speed: 10, temp: 50 }), { qos: 1 });
  await until("5 messages in", async () => metric(await (await fetch(`${http}/metrics`)).text(), "edgegate_mqtt_messages_received_total") === 5 || undefined);
  const startStamp = metric(await (await fetch(`${http}/metrics`)).text(), "edgegate_config_last_reload_success_timestamp_seconds");
  assert.ok(startStamp > 0);

  // Valid new config: the speed rule unchanged (keeps its window), the temp rule changed, a new topic rule,
  // a second target, and an HTTP listener change (needs a restart: logged, not applied).
  writeFileSync(
    cfg,
    `${head.replace('http: {listen: "127.0.0.1:0"}', 'http: {listen: "127.0.0.1:1"}')}topics:\n  - {topic: "a/{id}", format: json, metric_prefix: "dev_"}\n  - {topic: "b/{id}", format: json, metric_prefix: "dev_"}\n${rules("min")}remote_write:\n  - {url: "${rx1.url}", name: one}\n  - {url: "${rx2.url}", name: two}\n`,
  );
  child.kill("SIGHUP");
  await until("reloaded", () => out.includes('"configuration reloaded"') || undefined);
  assert.match(out, /"key":"http\.listen".*needs a restart/);
  const reloaded = JSON.parse(out.split("\n").find((l) => l.includes('"configuration reloaded"'))!) as { targets: { added: string[]; kept: string[] }; rules: { kept: number; fresh: number } };
  assert.deepEqual(reloaded.targets.added, ["two"]);
  assert.deepEqual(reloaded.targets.kept, ["one"]);
  assert.deepEqual(reloaded.rules, { kept: 1, fresh: 1 });
  // The changed rule's open window went out at the reload (not lost); the unchanged one is still open.
  await until("retired window delivered", () => rx1.samples().find((s) => s.labels.__name__ === "dev_temp:1h_without_id_max") ?? undefined);
  assert.equal(rx1.samples().find((s) => s.labels.__name__ === "dev_temp:1h_without_id_max")?.value, 50);
  assert.equal(rx1.samples().filter((s) => s.labels.__name__?.startsWith("dev_speed")).length, 0, "the kept window is still open");

  // Same connection, still up; the new topic rule works.
  assert.equal(disconnected, false);
  assert.ok(device.connected);
  for (let i = 0; i < 3; i++) await device.publishAsync("b/dev-1", JSON.stringify({ speed: 20 }), { qos: 1 });
  const text = await until("8 messages, no refusals", async () => {
    const m = await (await fetch(`${http}/metrics`)).text();
    return metric(m, "edgegate_mqtt_messages_received_total") === 8 ? m : undefined;
  });
  assert.equal(metric(text, 'edgegate_ingest_messages_dropped_total{reason="no_topic_rule"}'), 0);
  assert.equal(metric(text, "edgegate_config_last_reload_successful"), 1);
  assert.ok(metric(text, "edgegate_config_last_reload_success_timestamp_seconds") >= startStamp);

  // An invalid file is refused with the reason; the running config stays.
  writeFileSync(cfg, `${head}topics: [{topic: "a/{id}"}]\nremote_write: [{url: "${rx1.url}", name: one, queue_config: {max_backoff: soon}}]\n`);
  child.kill("SIGHUP");
  await until("refused", () => out.includes("configuration reload refused") || undefined);
  assert.match(out, /remote_write\[0\]\.queue_config\.max_backoff.*soon/);
  const after = await (await fetch(`${http}/metrics`)).text();
  assert.equal(metric(after, "edgegate_config_last_reload_successful"), 0);
  await device.publishAsync("b/dev-1", JSON.stringify({ speed: 30 }), { qos: 1 });
  await device.endAsync();

  // Shutdown flushes the kept window: it holds the samples from before AND after the reload.
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  child.kill("SIGTERM");
  assert.equal(await exited, 0, out);
  const count = rx1.samples().filter((s) => s.labels.__name__ === "dev_speed:1h_without_id_count_samples");
  assert.equal(count.length, 1, JSON.stringify(rx1.samples()));
  assert.equal(count[0]!.value, 9, "5 samples before the reload + 4 after, in one window");
  assert.equal(rx1.samples().find((s) => s.labels.__name__ === "dev_speed:1h_without_id_sum_samples")?.value, 5 * 10 + 3 * 20 + 30);
  // The new target got the same window.
  assert.equal(rx2.samples().find((s) => s.labels.__name__ === "dev_speed:1h_without_id_count_samples")?.value, 9);
  assert.ok(Math.abs(count[0]!.timestamp - (Math.floor(ts / 3_600_000) + 1) * 3_600_000) === 0);
});

test("POST /-/reload: a removed target's queue is kept and reported until purged; an invalid config answers 500 with the reason", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-reload-http-"));
  const rx = await startFakeReceiver();
  t.after(async () => {
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const cfg = join(dir, "edgegate.yaml");
  const head = `mqtt: {listen: "127.0.0.1:0"}\nhttp: {listen: "127.0.0.1:0"}\nstorage: {path: "${join(dir, "o.db")}", flush_interval: 100ms}\ntopics: [{topic: "a/{id}", format: json}]\n`;
  // "down" points at a closed port: its batches queue up.
  writeFileSync(cfg, `${head}remote_write:\n  - {url: "${rx.url}", name: up}\n  - {url: "http://127.0.0.1:1/api/v1/write", name: down, queue_config: {min_backoff: 1s, max_backoff: 1s}}\n`);
  const gw = buildGateway(loadConfigFile(cfg), { configFile: cfg, shutdownSendTimeoutMs: 500 });
  await gw.start();
  t.after(() => gw.close());
  const http = `http://${gw.httpAddress()}`;
  const device = await mqtt.connectAsync(`mqtt://${gw.mqttAddress()}`, { clientId: "d", protocolVersion: 4, reconnectPeriod: 0 });
  await device.publishAsync("a/d", JSON.stringify({ x: 1 }), { qos: 1 });
  await until("queued for down", () => (gw.status().targets.find((x) => x.name === "down")!.pending_rows > 0 ? true : undefined));

  writeFileSync(cfg, `${head}remote_write:\n  - {url: "${rx.url}", name: up}\n`);
  const ok = await fetch(`${http}/-/reload`, { method: "POST" });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.match(await ok.text(), /edgegate config reloaded/);
  const status = (await (await fetch(`${http}/api/v1/status`)).json()) as { targets: { name: string; removed?: boolean; pending_rows: number }[] };
  const down = status.targets.find((x) => x.name === "down");
  assert.ok(down?.removed === true && down.pending_rows > 0, JSON.stringify(status.targets));
  assert.ok(device.connected, "MQTT connection kept");
  // Nothing sends the removed target's batches any more; they stay until purged.
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(gw.status().targets.find((x) => x.name === "down")!.pending_rows > 0);

  writeFileSync(cfg, `${head}remote_write: []\n`);
  const bad = await fetch(`${http}/-/reload`, { method: "POST" });
  assert.equal(bad.status, 500);
  assert.match(await bad.text(), /failed to reload config: .*remote_write/);
  const m = await (await fetch(`${http}/metrics`)).text();
  assert.equal(metric(m, "edgegate_config_last_reload_successful"), 0);
  assert.deepEqual(gw.status().targets.map((x) => x.name).sort(), ["down", "up"]);
  await device.endAsync();
});
