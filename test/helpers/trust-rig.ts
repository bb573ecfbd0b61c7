import { spawn, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { buildGateway, type Gateway } from "../../gateway/app.js";
import { parseConfig, resolveConfigPaths } from "../../gateway/config/load.js";
import { startFakeReceiver, type FakeReceiver } from "./fake-receiver.js";
import { tempDir as tempDirIn } from "./temp-dir.js";

/** A temp folder removed after the test. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = "edgegate-trust-"): string {
  return tempDirIn(t, prefix);
}

/** A password file written by Debian's mosquitto_passwd ($7$ lines). */
export function mosquittoPasswd(file: string, users: Record<string, string>): void {
  let first = true;
  for (const [u, p] of Object.entries(users)) {
    execFileSync("mosquitto_passwd", [...(first ? ["-c"] : []), "-b", file, u, p]);
    first = false;
  }
}

export interface TrustGateway {
  gw: Gateway;
  receiver: FakeReceiver;
  dir: string;
  mqttPort: number;
  /** Port of the first listener of a transport. */
  port(transport: "tcp" | "tls" | "ws" | "wss"): number;
  httpUrl: string;
}

/**
 * The real gateway in process with `mqttYaml` / `httpYaml` lines (indented two
 * spaces, under `mqtt:` / `http:`), topic rule vehicles/{vin}/telemetry, a fake
 * Remote-Write receiver, files relative to `dir`.
 */
export async function startTrustGateway(t: { after: (fn: () => Promise<void> | void) => void }, dir: string, mqttYaml: string, httpYaml = "", extra = ""): Promise<TrustGateway> {
  const receiver = await startFakeReceiver();
  const ownListen = /^ {2}listen:/m.test(mqttYaml);
  const yaml = `mqtt:
${ownListen ? "" : '  listen: "127.0.0.1:0"\n'}${mqttYaml}
http:
  listen: "127.0.0.1:0"
${httpYaml}
storage: {path: "${join(dir, "outbox.db")}", flush_interval: 100ms}
topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
  - topic: "timed/{vin}"
    metric_prefix: "timed_"
    timestamp_field: ts
remote_write: [{url: "${receiver.url}"}]
${extra}`;
  const config = resolveConfigPaths(parseConfig(yaml, "trust test config"), dir);
  const gw = buildGateway(config, { shutdownSendTimeoutMs: 2000 });
  try {
    await gw.start();
  } catch (err) {
    await gw.close();
    await receiver.close();
    throw err;
  }
  t.after(async () => {
    await gw.close();
    await receiver.close();
  });
  const listeners = gw.status().mqtt.listeners;
  const port = (transport: string) => {
    const l = listeners.find((x) => x.transport === transport);
    if (!l) throw new Error(`no ${transport} listener: ${JSON.stringify(listeners)}`);
    return Number(l.listen.slice(l.listen.lastIndexOf(":") + 1));
  };
  const httpAddr = gw.httpAddress();
  const scheme = config.http.tls_server_config ? "https" : "http";
  return { gw, receiver, dir, mqttPort: listeners[0] ? port(listeners[0].transport) : 0, port, httpUrl: `${scheme}://127.0.0.1:${httpAddr.slice(httpAddr.lastIndexOf(":") + 1)}` };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a CLI (mosquitto_pub, mosquitto_sub, …) with a hard timeout. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on("error", () => undefined); // the command may exit before reading stdin (EPIPE)
    child.stdin.end(opts.input ?? "");
  });
}

/** A started long-running CLI (mosquitto_sub), its output so far, and a stop(). */
export function startProcess(cmd: string, args: string[]): { output: () => string; stop: () => Promise<void> } {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return {
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP(S) request with optional basic auth and TLS material (fetch cannot present client certificates). */
export function httpCall(
  url: string,
  opts: { method?: string; auth?: string; body?: string | Buffer; ca?: Buffer; cert?: Buffer; key?: Buffer; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.auth) headers.authorization = "Basic " + Buffer.from(opts.auth).toString("base64");
    if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
    const base = { method: opts.method ?? "GET", hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, timeout: 10_000 };
    const req = u.protocol === "https:" ? httpsRequest({ ...base, ca: opts.ca, cert: opts.cert, key: opts.key, servername: "localhost" }) : httpRequest(base);
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes to the broker and returns the first bytes it answers (or what it had when the connection closed). */
export function rawExchange(port: number, bytes: Buffer, want = 4): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(port, "127.0.0.1");
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(got);
    }, 5000);
    sock.on("connect", () => sock.write(bytes));
    sock.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= want) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.on("error", reject);
  });
}

export function writeText(path: string, text: string): string {
  writeFileSync(path, text);
  return path;
}
