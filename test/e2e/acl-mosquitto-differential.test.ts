import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { mosquittoPasswd, run, startProcess, startTrustGateway, tempDir } from "../helpers/trust-rig.js";
import { sleep, waitFor } from "../helpers/wait.js";

/**
 * Differential test: the same password file and ACL file given to Mosquitto's
 * own broker and to edgegate must let the same publications through. An
 * `admin` subscriber allowed to read everything records what each broker
 * delivered; the two records must be equal (and not trivially: some cases are
 * refused, some pass).
 */

const ACL = `# anonymous clients
topic read public/#
topic write public/inbox
pattern write vehicles/%u/#
pattern write clients/%c/+

user admin
topic readwrite #

user ops
topic write ops/#
topic deny ops/secret

user A
topic write shared/a
`;

const USERS = { admin: "pw-admin", A: "pw-A", B: "pw-B", ops: "pw-ops", "C+": "pw-C" };

/** [user (null = anonymous), client id, topic]. */
const CASES: [string | null, string, string][] = [
  ["A", "a1", "vehicles/A/telemetry"],
  ["A", "a1", "vehicles/B/telemetry"],
  ["B", "b1", "vehicles/B/x/y"],
  ["B", "b1", "vehicles/A"],
  ["A", "a1", "shared/a"],
  ["B", "b1", "shared/a"],
  ["ops", "o1", "ops/status"],
  ["ops", "o1", "ops/secret"],
  ["ops", "o1", "vehicles/ops/t"],
  [null, "anon1", "public/inbox"],
  [null, "anon1", "public/news"],
  [null, "anon1", "vehicles/anon1/t"],
  [null, "anon1", "clients/anon1/x"],
  [null, "anon1", "clients/anon2/x"],
  ["A", "dev9", "clients/dev9/x"],
  ["A", "dev9", "clients/dev9/x/y"],
  ["C+", "c1", "vehicles/C+/t"],
  ["A", "a1", "elsewhere"],
];

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Publishes every case (QoS 1, one payload each) and returns the payloads the admin subscriber got. */
async function delivered(port: number): Promise<string[]> {
  const sub = startProcess("mosquitto_sub", ["-h", "127.0.0.1", "-p", String(port), "-V", "mqttv311", "-u", "admin", "-P", USERS.admin, "-t", "#", "-i", "admin-sub", "-q", "1"]);
  try {
    // The subscriber is ready once it receives a probe.
    const probe = ["-h", "127.0.0.1", "-p", String(port), "-u", "admin", "-P", USERS.admin, "-t", "probe", "-m", "ready"];
    await waitFor("the admin subscriber", async () => {
      await run("mosquitto_pub", probe);
      return sub.output().includes("ready") ? true : undefined;
    }, 10_000, 200);
    for (const [i, [user, clientId, topic]] of CASES.entries()) {
      const auth = user === null ? [] : ["-u", user, "-P", USERS[user as keyof typeof USERS]];
      await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-V", "mqttv311", "-q", "1", "-i", clientId, ...auth, "-t", topic, "-m", `case-${i}`]);
    }
    await sleep(500);
    return sub
      .output()
      .split("\n")
      .filter((l) => l.startsWith("case-"))
      .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  } finally {
    await sub.stop();
  }
}

test("the same password and ACL files allow the same publications in Mosquitto and in edgegate", async (t) => {
  const dir = tempDir(t);
  mosquittoPasswd(join(dir, "devices.passwd"), USERS);
  writeFileSync(join(dir, "devices.acl"), ACL);

  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npassword_file ${join(dir, "devices.passwd")}\nacl_file ${join(dir, "devices.acl")}\nuser ${userInfo().username}\npersistence false\n`);
  const broker = spawn("mosquitto", ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  t.after(async () => {
    if (broker.exitCode !== null) return;
    const exited = new Promise((r) => broker.once("exit", r));
    broker.kill("SIGTERM");
    await exited;
  });
  const mosquittoUp = async () => (await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-u", "admin", "-P", USERS.admin, "-t", "probe", "-m", "x"])).code === 0;
  await waitFor("mosquitto", async () => ((await mosquittoUp()) ? true : undefined), 10_000, 200);
  const fromMosquitto = await delivered(port);

  const { mqttPort } = await startTrustGateway(t, dir, `  auth:\n    allow_anonymous: true\n    password_file: devices.passwd\n    acl_file: devices.acl`);
  const fromEdgegate = await delivered(mqttPort);

  assert.ok(fromMosquitto.length >= 5 && fromMosquitto.length < CASES.length, `a discriminating case set: ${fromMosquitto.join(",")}`);
  assert.deepEqual(fromEdgegate, fromMosquitto);
});
