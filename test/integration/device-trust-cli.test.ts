import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/gateway-process.js";
import { run, tempDir } from "../helpers/trust-rig.js";
import { waitFor } from "../helpers/wait.js";

/** The `edgegate` command as a user runs it: `passwd`, and the safe-default checks of --check-config and start-up. */
const MAIN = join(REPO, "gateway", "main.ts");
const TSX = import.meta.resolve("tsx");
const edgegate = (args: string[], input?: string) => spawnSync(process.execPath, ["--import", TSX, MAIN, ...args], { encoding: "utf8", timeout: 30_000, input });

const BASE = `topics: [{topic: "vehicles/{vin}/telemetry"}]\nremote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]\nstorage: {path: ./data/x.db}\n`;

test("a non-loopback MQTT listener without authentication is refused by --check-config and at start, naming the keys that fix it", (t) => {
  const dir = tempDir(t);
  const exposed = join(dir, "exposed.yaml");
  writeFileSync(exposed, BASE + `mqtt: {listen: "0.0.0.0:0"}\nhttp: {listen: "127.0.0.1:0"}\n`);
  const r = edgegate(["--check-config", exposed]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /mqtt\.auth: mqtt\.listen "0\.0\.0\.0:0" can be reached from other hosts but no device authentication is configured/);
  for (const key of ["mqtt.auth.password_file", "mqtt.tls.use_identity_as_username", "mqtt.auth.allow_anonymous: true", "127.0.0.1"]) assert.ok(r.stderr.includes(key), `${key} in: ${r.stderr}`);

  const start = edgegate(["--config", exposed]);
  assert.equal(start.status, 1, "the gateway does not start");
  assert.match(start.stderr, /no device authentication is configured/);

  // The websocket listener counts too; an explicit allow_anonymous: true or a password file makes it valid.
  const ws = join(dir, "ws.yaml");
  writeFileSync(ws, BASE + `mqtt: {listen: "127.0.0.1:0", websocket: {listen: ":8080"}}\n`);
  assert.match(edgegate(["--check-config", ws]).stderr, /mqtt\.websocket\.listen ":8080"/);
  const open = join(dir, "open.yaml");
  writeFileSync(open, BASE + `mqtt: {listen: "0.0.0.0:0", auth: {allow_anonymous: true}}\n`);
  assert.equal(edgegate(["--check-config", open]).status, 0);
  const pw = join(dir, "pw.yaml");
  writeFileSync(pw, BASE + `mqtt: {listen: "0.0.0.0:0", auth: {password_file: devices.passwd, acl_file: devices.acl}}\n`);
  const missing = edgegate(["--check-config", pw]);
  assert.equal(missing.status, 1, "the files are checked too");
  assert.match(missing.stderr, /mqtt\.auth\.password_file: .*no such file/i);
  assert.match(missing.stderr, /mqtt\.auth\.acl_file: .*no such file/i);
  assert.equal(edgegate(["passwd", "-c", "-b", join(dir, "devices.passwd"), "vin-1", "pw"]).status, 0);
  writeFileSync(join(dir, "devices.acl"), "pattern write vehicles/%u/#\n");
  const valid = edgegate(["--check-config", pw]);
  assert.equal(valid.status, 0, valid.stderr);
  writeFileSync(join(dir, "devices.acl"), "pattern writ vehicles/%u/#\n");
  assert.match(edgegate(["--check-config", pw]).stderr, /mqtt\.auth\.acl_file: .*devices\.acl:1: access must be/);
});

test("edgegate passwd: mosquitto_passwd's flags and messages; -b, prompt twice, -D, -c", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "devices.passwd");
  assert.match(edgegate(["passwd", "-b", file, "a", "x"]).stderr, /Unable to open password file/);
  assert.equal(edgegate(["passwd", "-c", "-b", file, "a", "pw-a"]).status, 0);
  assert.equal(statSync(file).mode & 0o777, 0o600, "not readable by other users");
  const prompted = edgegate(["passwd", file, "b"], "pw-b\npw-b\n");
  assert.equal(prompted.status, 0, prompted.stderr);
  assert.match(prompted.stdout, /Password: \nReenter password: /);
  const mismatch = edgegate(["passwd", file, "c"], "one\ntwo\n");
  assert.equal(mismatch.status, 1);
  assert.match(mismatch.stderr, /Passwords do not match/);
  assert.match(edgegate(["passwd", "-b", file, "a:b", "x"]).stderr, /must not contain the ':' character/);
  assert.match(edgegate(["passwd", "-c", "-D", file, "a"]).stderr, /-c and -D cannot be used together/);
  let text = readFileSync(file, "utf8");
  assert.match(text, /^a:\$7\$101\$.*\nb:\$7\$101\$.*\n$/);
  // Updating keeps the order and other users; -D removes one.
  const before = text.split("\n")[1];
  assert.equal(edgegate(["passwd", "-b", file, "a", "new"]).status, 0);
  text = readFileSync(file, "utf8");
  assert.equal(text.split("\n")[1], before);
  assert.equal(edgegate(["passwd", "-D", file, "a"]).status, 0);
  assert.match(readFileSync(file, "utf8"), /^b:/);
  assert.match(edgegate(["passwd", "-D", file, "zed"]).stderr, /User zed not found/);
  // -c overwrites.
  assert.equal(edgegate(["passwd", "-c", "-b", file, "only", "x"]).status, 0);
  assert.match(readFileSync(file, "utf8"), /^only:\$7\$[^\n]+\n$/);
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test("a password file written by `edgegate passwd` is accepted by Mosquitto's own broker", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "devices.passwd");
  assert.equal(edgegate(["passwd", "-c", "-b", file, "truck-7", "correct horse"]).status, 0);
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${file}\nuser ${userInfo().username}\npersistence false\n`);
  const broker = spawn("mosquitto", ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  broker.stderr.on("data", (d: Buffer) => (log += d.toString()));
  t.after(async () => {
    if (broker.exitCode === null) {
      const exited = new Promise((r) => broker.once("exit", r));
      broker.kill("SIGTERM");
      await exited;
    }
  });
  const pub = (password: string) => run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-u", "truck-7", "-P", password, "-t", "vehicles/truck-7/telemetry", "-m", "{}"]);
  const ok = await waitFor("mosquitto to accept the password", async () => ((await pub("correct horse")).code === 0 ? true : undefined), 10_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}\nmosquitto log:\n${log}`);
  });
  assert.equal(ok, true);
  const wrong = await pub("wrong horse");
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /not authori[sz]ed|bad user name or password/i);
});
