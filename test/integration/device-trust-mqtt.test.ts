import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import mqtt from "mqtt";
import { mosquittoPasswd, rawExchange, run, startProcess, startTrustGateway, tempDir, writeText } from "../helpers/trust-rig.js";
import { waitFor, sleep } from "../helpers/wait.js";

/**
 * Device trust with real clients (mosquitto_pub / mosquitto_sub, MQTT.js) against
 * the real gateway: a password file made by Debian's mosquitto_passwd, a
 * Mosquitto ACL, spoofing and takeover attempts, CONNACK codes.
 */

const ACL = `pattern readwrite vehicles/%u/#
`;

async function fleet(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  mosquittoPasswd(join(dir, "devices.passwd"), { A: "pw-A", B: "pw-B" });
  writeText(join(dir, "devices.acl"), ACL);
  // Relative paths: resolved against the config's folder.
  return startTrustGateway(t, dir, `  auth:\n    password_file: devices.passwd\n    acl_file: devices.acl`);
}

const pub = (port: number, user: string | null, pass: string | null, topic: string, message: string, extra: string[] = []) =>
  run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-V", "mqttv311", "-q", "1", "-t", topic, "-m", message, ...(user ? ["-u", user] : []), ...(pass ? ["-P", pass] : []), ...extra]);

const connect = (port: number, opts: mqtt.IClientOptions = {}) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });

async function connackCode(port: number, opts: mqtt.IClientOptions): Promise<number> {
  try {
    const c = await connect(port, opts);
    await c.endAsync();
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

/** SUBACK return code of one filter (MQTT.js rejects a 0x80 as an error). */
async function subackCode(c: mqtt.MqttClient, filter: string): Promise<number> {
  try {
    const g = await c.subscribeAsync(filter);
    return g[0]!.qos;
  } catch (err) {
    if ((err as Error).name === "ErrorWithSubackPacket") return 128;
    throw err;
  }
}

async function metricValue(gw: { metrics: { registry: { getSingleMetricAsString(n: string): Promise<string> } } }, name: string, labels: string): Promise<number> {
  const text = await gw.metrics.registry.getSingleMetricAsString(name);
  // Summed: every known label set is exported at 0, so a partial label match can name several series.
  const lines = text.split("\n").filter((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return lines.reduce((n, line) => n + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

test("mosquitto_passwd file + ACL: right password publishes, wrong password is CONNACK 4, anonymous CONNACK 5, A cannot publish as B", async (t) => {
  const { gw, receiver, mqttPort } = await fleet(t);
  const ok = await pub(mqttPort, "A", "pw-A", "vehicles/A/telemetry", '{"speed": 50}');
  assert.equal(ok.code, 0, ok.stderr);

  const wrong = await pub(mqttPort, "A", "nope", "vehicles/A/telemetry", '{"speed": 1}');
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /not authori[sz]ed|bad user name or password|Connection Refused/i);
  assert.equal(await connackCode(mqttPort, { username: "A", password: "nope" }), 4);
  assert.equal(await connackCode(mqttPort, { username: "nobody", password: "pw-A" }), 4);
  assert.equal(await connackCode(mqttPort, {}), 5, "anonymous clients are not allowed with a password file");

  // The spoof: A claims to be B. Refused before the pipeline; A's connection is closed ([MQTT-3.3.5-2]).
  await pub(mqttPort, "A", "pw-A", "vehicles/B/telemetry", '{"speed": 999}');
  await pub(mqttPort, "B", "pw-B", "vehicles/B/telemetry", '{"speed": 60}');
  gw.flushNow();
  await gw.drained();
  await waitFor("two samples at the receiver", () => (receiver.samples().length >= 2 ? true : undefined), 10_000);
  const speeds = receiver.samples().filter((s) => s.labels.__name__ === "vehicle_speed").map((s) => `${s.labels.vin}=${s.value}`).sort();
  assert.deepEqual(speeds, ["A=50", "B=60"], "the spoofed 999 never reached the pipeline");
  assert.equal(await metricValue(gw, "edgegate_mqtt_acl_refusals_total", 'action="publish",reason="acl_no_match"'), 1);
  assert.equal(await metricValue(gw, "edgegate_mqtt_auth_refusals_total", 'reason="bad_credentials"'), 3);
  assert.equal(await metricValue(gw, "edgegate_mqtt_auth_refusals_total", 'reason="anonymous_not_allowed"'), 1);
});

test("a subscription to # delivers only what the ACL lets the device read (mosquitto_sub)", async (t) => {
  const { gw, mqttPort } = await fleet(t);
  const sub = startProcess("mosquitto_sub", ["-h", "127.0.0.1", "-p", String(mqttPort), "-V", "mqttv311", "-u", "A", "-P", "pw-A", "-t", "#", "-v", "-i", "sub-A"]);
  t.after(() => sub.stop());
  await waitFor("the subscriber to connect", () => (gw.status().mqtt.connected_clients >= 1 ? true : undefined), 10_000, 50);
  await sleep(300); // SUBSCRIBE follows CONNACK
  assert.equal((await pub(mqttPort, "B", "pw-B", "vehicles/B/telemetry", '{"secret": 1}')).code, 0);
  assert.equal((await pub(mqttPort, "A", "pw-A", "vehicles/A/telemetry", '{"own": 1}')).code, 0);
  await waitFor("A's own message", () => (sub.output().includes("vehicles/A/telemetry") ? true : undefined), 10_000, 50);
  await sleep(200);
  assert.ok(!sub.output().includes("vehicles/B"), `B's data leaked to A: ${sub.output()}`);
  assert.ok((await metricValue(gw, "edgegate_mqtt_acl_refusals_total", 'action="read"')) >= 1);

  // A filter no read grant overlaps is refused with SUBACK 0x80, and so is $SYS.
  const c = await connect(mqttPort, { username: "A", password: "pw-A" });
  t.after(() => c.endAsync());
  assert.equal(await subackCode(c, "vehicles/B/#"), 128);
  assert.equal(await subackCode(c, "$SYS/#"), 128);
  assert.equal(await subackCode(c, "vehicles/A/#"), 0);
});

test("$SYS is not announced to anonymous clients (loopback broker without authentication)", async (t) => {
  const dir = tempDir(t);
  const { mqttPort } = await startTrustGateway(t, dir, "");
  const c = await connect(mqttPort, { clientId: "watcher" });
  t.after(() => c.endAsync());
  assert.equal(await subackCode(c, "$SYS/#"), 128);
  assert.equal(await subackCode(c, "$SYS/+/new/clients"), 128);
  assert.equal(await subackCode(c, "vehicles/#"), 0);
  let sys = 0;
  c.on("message", (topic) => {
    if (topic.startsWith("$SYS")) sys++;
  });
  const other = await connect(mqttPort, { clientId: "new-device" }); // aedes announces this on $SYS/<id>/new/clients
  await other.endAsync();
  await sleep(300);
  assert.equal(sys, 0);
});

test("a client id owned by another identity is not taken over; the same identity may reconnect", async (t) => {
  const { gw, mqttPort } = await fleet(t);
  const a = await connect(mqttPort, { clientId: "truck-1", username: "A", password: "pw-A" });
  t.after(() => a.endAsync(true));
  let aClosed = false;
  a.on("close", () => (aClosed = true));
  assert.equal(await connackCode(mqttPort, { clientId: "truck-1", username: "B", password: "pw-B" }), 5);
  await sleep(300);
  assert.equal(aClosed, false, "the owner was not kicked off");
  assert.ok(a.connected);
  assert.equal(await metricValue(gw, "edgegate_mqtt_auth_refusals_total", 'reason="client_id_in_use"'), 1);

  // A persistent session (CleanSession=0) stays A's after A disconnects.
  const p = await connect(mqttPort, { clientId: "truck-2", username: "A", password: "pw-A", clean: false });
  await p.endAsync();
  assert.equal(await connackCode(mqttPort, { clientId: "truck-2", username: "B", password: "pw-B", clean: false }), 5);
  assert.equal(await connackCode(mqttPort, { clientId: "truck-2", username: "B", password: "pw-B", clean: true }), 5);

  // The rightful owner reconnecting (a device after a network drop) takes its session over ([MQTT-3.1.4-2]).
  const again = await connect(mqttPort, { clientId: "truck-1", username: "A", password: "pw-A" });
  await waitFor("the old connection to be closed", () => (aClosed ? true : undefined), 5000, 50);
  await again.endAsync();
});

test("[MQTT-3.1.3-8] a zero-byte ClientId with CleanSession=0 gets CONNACK 0x02; with CleanSession=1 it is accepted", async (t) => {
  const dir = tempDir(t);
  const { gw, mqttPort } = await startTrustGateway(t, dir, "");
  // CONNECT, protocol "MQTT" level 4, flags, keep-alive 60, zero-length client id.
  const connectPacket = (flags: number) => Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, 0x00, 0x3c, 0x00, 0x00]);
  assert.deepEqual([...(await rawExchange(mqttPort, connectPacket(0x00)))], [0x20, 0x02, 0x00, 0x02]);
  assert.deepEqual([...(await rawExchange(mqttPort, connectPacket(0x02)))], [0x20, 0x02, 0x00, 0x00]);
  assert.equal(await metricValue(gw, "edgegate_mqtt_auth_refusals_total", 'reason="identifier_rejected"'), 1);
});

test("the password file is re-read when it changes: a new device connects, a deleted one cannot", async (t) => {
  const { gw, mqttPort } = await fleet(t);
  const file = join(gw.config.mqtt.auth.password_file!);
  assert.equal(await connackCode(mqttPort, { username: "C", password: "pw-C" }), 4);
  const r = await run("mosquitto_passwd", ["-b", file, "C", "pw-C"]);
  assert.equal(r.code, 0, r.stderr);
  await run("mosquitto_passwd", ["-D", file, "B"]);
  await waitFor("C to be accepted", async () => ((await connackCode(mqttPort, { username: "C", password: "pw-C" })) === 0 ? true : undefined), 10_000, 250);
  assert.equal(await connackCode(mqttPort, { username: "B", password: "pw-B" }), 4);
  assert.ok((await metricValue(gw, "edgegate_auth_file_reloads_total", 'file="password_file",result="success"')) >= 2);
});
