import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { makePki } from "../helpers/certs.js";
import { httpCall, mosquittoPasswd, run, startProcess, startTrustGateway, tempDir, writeText } from "../helpers/trust-rig.js";
import { sleep, waitFor } from "../helpers/wait.js";

/**
 * The broker's transports with real clients: MQTT over TLS with certificates
 * made by openssl (mosquitto_pub / mosquitto_sub), MQTT over WebSocket and
 * secure WebSocket (MQTT.js), each reported in /api/v1/status.
 */

function tlsYaml(pki: ReturnType<typeof makePki>, extra: string): string {
  return `  tls:
    listen: "127.0.0.1:0"
    cert_file: ${pki.serverCert}
    key_file: ${pki.serverKey}
    client_ca_file: ${pki.ca}
${extra}`;
}

test("TLS with client certificates: the CN is the identity; a certificate from another CA or none is refused (mosquitto_pub/sub)", async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const a = pki.client("vin-A");
  const rogue = pki.rogue("vin-A");
  writeText(join(dir, "devices.acl"), "pattern readwrite vehicles/%u/#\n");
  const { gw, receiver, port } = await startTrustGateway(
    t,
    dir,
    `  listen: ""\n${tlsYaml(pki, "    use_identity_as_username: true\n    min_version: TLS12")}\n  auth:\n    acl_file: devices.acl`,
  );
  const tlsPort = port("tls");
  assert.deepEqual(
    gw.status().mqtt.listeners.map((l) => [l.transport, l.client_certificates]),
    [["tls", "required"]],
    "plain TCP disabled by listen: \"\"",
  );
  const tlsArgs = (cert: { cert: string; key: string } | null) => ["-h", "127.0.0.1", "-p", String(tlsPort), "--cafile", pki.ca, ...(cert ? ["--cert", cert.cert, "--key", cert.key] : []), "-V", "mqttv311", "-q", "1"];

  const sub = startProcess("mosquitto_sub", [...tlsArgs(a), "-t", "#", "-v", "-i", "A-sub"]);
  t.after(() => sub.stop());
  await waitFor("the TLS subscriber", () => (gw.status().mqtt.connected_clients >= 1 ? true : undefined), 10_000, 50);
  await sleep(300);

  const ok = await run("mosquitto_pub", [...tlsArgs(a), "-t", "vehicles/vin-A/telemetry", "-m", '{"speed": 42}']);
  assert.equal(ok.code, 0, ok.stderr);
  // The spoof is refused by the ACL (%u = the certificate's CN); mosquitto_pub may not notice the closed connection.
  await run("mosquitto_pub", [...tlsArgs(a), "-t", "vehicles/vin-B/telemetry", "-m", '{"speed": 999}']);
  const refused = (await gw.metrics.mqttAclRefusals.get()).values.filter((v) => v.labels.action === "publish").reduce((n, v) => n + v.value, 0);
  assert.equal(refused, 1);
  const forged = await run("mosquitto_pub", [...tlsArgs(rogue), "-t", "vehicles/vin-A/telemetry", "-m", '{"speed": 1}']);
  assert.notEqual(forged.code, 0, "a certificate not signed by the CA fails the handshake");
  const none = await run("mosquitto_pub", [...tlsArgs(null), "-t", "vehicles/vin-A/telemetry", "-m", '{"speed": 2}']);
  assert.notEqual(none.code, 0, "no certificate fails the handshake (require_certificate)");

  await waitFor("the subscriber to get its own message", () => (sub.output().includes("vehicles/vin-A/telemetry") ? true : undefined), 10_000, 50);
  gw.flushNow();
  await gw.drained();
  await waitFor("the sample at the receiver", () => (receiver.samples().length > 0 ? true : undefined), 10_000);
  assert.deepEqual(
    receiver.samples().map((s) => `${s.labels.vin}=${s.value}`),
    ["vin-A=42"],
  );
});

test("TLS without use_identity_as_username: password devices over TLS; a TLS version below min_version is refused", async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  mosquittoPasswd(join(dir, "p"), { A: "pw-A" });
  const { port } = await startTrustGateway(t, dir, `${tlsYaml(pki, "    min_version: TLS13")}\n  auth:\n    password_file: p`);
  const base = ["-h", "127.0.0.1", "-p", String(port("tls")), "--cafile", pki.ca, "-V", "mqttv311", "-t", "vehicles/A/telemetry", "-m", "{}"];
  assert.equal((await run("mosquitto_pub", [...base, "-u", "A", "-P", "pw-A"])).code, 0);
  assert.notEqual((await run("mosquitto_pub", [...base, "-u", "A", "-P", "bad"])).code, 0);
  // mosquitto_pub's --tls-version is only a floor, so the version check uses openssl s_client.
  const sClient = (v: string) => run("openssl", ["s_client", "-connect", `127.0.0.1:${port("tls")}`, v, "-CAfile", pki.ca], { timeoutMs: 5000 });
  const old = await sClient("-tls1_2");
  assert.notEqual(old.code, 0);
  assert.match(old.stderr, /protocol version/);
  assert.equal((await sClient("-tls1_3")).code, 0);
});

test("MQTT over WebSocket (ws, password) and secure WebSocket (wss, client certificate identity) with MQTT.js", async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const a = pki.client("vin-A");
  mosquittoPasswd(join(dir, "p"), { B: "pw-B" });
  writeText(join(dir, "acl"), "pattern readwrite vehicles/%u/#\n");
  const ws1 = await startTrustGateway(t, dir, `  websocket:\n    listen: "127.0.0.1:0"\n  auth:\n    password_file: p\n    acl_file: acl`);
  assert.deepEqual(
    ws1.gw.status().mqtt.listeners.map((l) => l.transport),
    ["tcp", "ws"],
  );
  const wsUrl = `ws://127.0.0.1:${ws1.port("ws")}/mqtt`;
  const c = await mqtt.connectAsync(wsUrl, { username: "B", password: "pw-B", protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  const got: string[] = [];
  c.on("message", (topic, payload) => got.push(`${topic} ${payload.toString()}`));
  await c.subscribeAsync("vehicles/B/#");
  await c.publishAsync("vehicles/B/telemetry", '{"rpm": 900}', { qos: 1 });
  await waitFor("the echo over ws", () => (got.length > 0 ? true : undefined), 5000, 50);
  assert.deepEqual(got, ['vehicles/B/telemetry {"rpm": 900}']);
  await c.endAsync();
  await assert.rejects(
    mqtt.connectAsync(wsUrl, { username: "B", password: "wrong", protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }),
    (err: { code?: number }) => err.code === 4,
  );

  // Its own storage: on ws1's outbox.db it would also deliver (or replay from the journal) ws1's vehicle B.
  const wssDir = join(dir, "wss");
  mkdirSync(wssDir);
  writeText(join(wssDir, "acl"), "pattern readwrite vehicles/%u/#\n");
  const wss = await startTrustGateway(
    t,
    wssDir,
    `  listen: ""\n${tlsYaml(pki, "    listen: \"\"\n    use_identity_as_username: true").replace('    listen: "127.0.0.1:0"\n', "")}\n  websocket:\n    listen: "127.0.0.1:0"\n    tls: true\n  auth:\n    acl_file: acl`,
  );
  const wssPort = wss.port("wss");
  const tls = { ca: readFileSync(pki.ca), cert: readFileSync(a.cert), key: readFileSync(a.key), servername: "localhost" };
  const d = await mqtt.connectAsync(`wss://127.0.0.1:${wssPort}/mqtt`, { ...tls, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  await d.publishAsync("vehicles/vin-A/telemetry", '{"speed": 7}', { qos: 1 });
  await d.endAsync();
  wss.gw.flushNow();
  await wss.gw.drained();
  await waitFor("the wss sample", () => (wss.receiver.samples().length > 0 ? true : undefined), 10_000);
  assert.equal(wss.receiver.samples()[0]!.labels.vin, "vin-A");
  // Without a client certificate the TLS handshake fails.
  await assert.rejects(mqtt.connectAsync(`wss://127.0.0.1:${wssPort}/mqtt`, { ca: tls.ca, servername: "localhost", protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 }));
  const status = JSON.parse((await httpCall(`${wss.httpUrl}/api/v1/status`)).body) as { mqtt: { listeners: { transport: string; client_certificates?: string }[] } };
  assert.deepEqual(status.mqtt.listeners.map((l) => [l.transport, l.client_certificates]), [["wss", "required"]]);
});

test("TLS and WebSocket clients meet the same broker limits as TCP: packet size, and one connection cap over every transport", async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  mosquittoPasswd(join(dir, "p"), { A: "pw-A" });
  const { gw, port } = await startTrustGateway(
    t,
    dir,
    `${tlsYaml(pki, "")}\n  websocket:\n    listen: "127.0.0.1:0"\n  auth:\n    password_file: p\n  max_packet_size: 4096\n  max_connections: 2`,
  );
  const refused = async (reason: string) => (await gw.metrics.mqttRefused.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  const opts = { username: "A", password: "pw-A", protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: 5000 };
  const tls = { ca: readFileSync(pki.ca), servername: "localhost" };
  const urls = [`mqtts://127.0.0.1:${port("tls")}`, `ws://127.0.0.1:${port("ws")}/mqtt`];
  // A PUBLISH above max_packet_size closes that connection, on TLS and on WebSocket alike.
  for (const [i, url] of urls.entries()) {
    const c = await mqtt.connectAsync(url, { ...opts, ...tls, clientId: `big-${i}` });
    c.on("error", () => {});
    c.publish("vehicles/A/telemetry", JSON.stringify({ pad: "x".repeat(10_000), speed: 1 }));
    await waitFor(`the refusal over ${url}`, async () => ((await refused("packet_too_large")) >= i + 1 ? true : undefined), 5000, 50);
    await waitFor(`the client over ${url} to be disconnected`, () => (c.connected ? undefined : true), 5000, 50);
    c.end(true);
    assert.equal(await refused("packet_too_large"), i + 1, `packet_too_large over ${url}`);
  }
  // max_connections counts TCP, TLS and WebSocket clients together.
  const tcp = await mqtt.connectAsync(`mqtt://127.0.0.1:${port("tcp")}`, { ...opts, clientId: "tcp-1" });
  const ws = await mqtt.connectAsync(urls[1]!, { ...opts, clientId: "ws-1" });
  t.after(() => {
    tcp.end(true);
    ws.end(true);
  });
  await waitFor("both refused clients to be gone", () => (gw.status().mqtt.connected_clients === 2 ? true : undefined), 5000, 50);
  const third = mqtt.connect(urls[0]!, { ...opts, ...tls, clientId: "tls-3", connectTimeout: 3000 });
  const outcome = await new Promise<string>((resolve) => {
    third.once("connect", () => resolve("connected"));
    third.once("close", () => resolve("closed"));
    third.on("error", () => resolve("closed"));
  });
  third.end(true);
  assert.equal(outcome, "closed", "a third client (TLS) beyond max_connections: 2 is closed on accept");
  await waitFor("the refusal to be counted", async () => ((await refused("max_connections")) >= 1 ? true : undefined), 5000, 50);
  assert.equal(await refused("max_connections"), 1);
  // The connected clients carry on.
  await ws.publishAsync("vehicles/A/telemetry", '{"speed": 5}', { qos: 1 });
  gw.flushNow();
  await gw.drained();
});
