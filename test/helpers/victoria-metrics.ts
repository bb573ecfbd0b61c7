import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real single-node VictoriaMetrics (Debian's `victoria-metrics`) as a Remote-Write receiver on a loopback ephemeral port. */
export interface VictoriaMetricsHandle {
  url: string;
  /** Its Prometheus-compatible Remote-Write endpoint. */
  writeUrl: string;
  port: number;
  close(): Promise<void>;
}

export function victoriaMetricsAvailable(): boolean {
  return spawnSync("victoria-metrics", ["-version"]).error === undefined;
}

/** The TCP port `pid` listens on, from /proc (VictoriaMetrics logs the requested address, ":0", not the bound one). */
function listeningPort(pid: number): number | null {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* fd closed meanwhile */
    }
  }
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1] local address (hex ip:port), f[3] state (0A = LISTEN), f[9] inode
      if (f[3] === "0A" && f[9] !== undefined && inodes.has(f[9])) return parseInt(f[1]!.split(":")[1]!, 16);
    }
  }
  return null;
}

export async function startVictoriaMetrics(): Promise<VictoriaMetricsHandle> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-vm-"));
  const child: ChildProcess = spawn(
    "victoria-metrics",
    [
      "-httpListenAddr=127.0.0.1:0",
      `-storageDataPath=${join(dir, "data")}`,
      // Make just-written samples queryable at once (the default hides the last 30 s).
      "-search.latencyOffset=1s",
      "-search.disableCache",
      "-loggerLevel=WARN",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  let port: number | null = null;
  for (let i = 0; i < 200 && port === null; i++) {
    if (child.exitCode !== null) throw new Error(`victoria-metrics exited with ${child.exitCode}:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
    port = listeningPort(child.pid!);
  }
  if (port === null) {
    child.kill("SIGKILL");
    throw new Error(`victoria-metrics did not listen in 20 s:\n${log}`);
  }
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    writeUrl: `${url}/api/v1/write`,
    port,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
