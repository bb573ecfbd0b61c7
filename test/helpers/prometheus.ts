import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real Prometheus (Debian's 2.42) as a Remote-Write receiver on a loopback ephemeral port. */
export interface PrometheusHandle {
  url: string;
  writeUrl: string;
  /** Instant query; returns the result vector as [labels, value, timestampMs]. */
  query(expr: string, timeMs?: number): Promise<{ metric: Record<string, string>; value: number; timestamp: number }[]>;
  /** Every raw sample of the series matching `selector` in the last `range` (e.g. "1h") at `timeMs`. */
  rawSamples(selector: string, range: string, timeMs?: number): Promise<{ metric: Record<string, string>; samples: [number, number][] }[]>;
  /** SIGTERM, then start again on the SAME data folder and port (as an operator restarts it). */
  restart(): Promise<void>;
  /** Sets the scraped targets ("host:port") of the `scrape` job. */
  scrapeTargets(targets: string[]): void;
  close(): Promise<void>;
}

export function prometheusAvailable(): boolean {
  return spawnSync("prometheus", ["--version"]).status === 0;
}

/** `port`: listen there instead of an ephemeral port (a client configured before the receiver existed, e.g. vmagent's queue is keyed by its URL). */
export async function startPrometheus(opts: { outOfOrderWindow?: string; scrape?: { job: string; interval?: string }; port?: number } = {}): Promise<PrometheusHandle> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-prom-"));
  const cfg = join(dir, "prometheus.yml");
  let yml = "global:\n  scrape_interval: 1h\n";
  if (opts.outOfOrderWindow) yml += `storage:\n  tsdb:\n    out_of_order_time_window: ${opts.outOfOrderWindow}\n`;
  // Optionally scrape targets (gateways' /metrics) too: a file_sd file, so targets on ports known only later
  // can be added with scrapeTargets() (Prometheus watches the file).
  const sdFile = join(dir, "targets.json");
  writeFileSync(sdFile, "[]");
  if (opts.scrape) yml += `scrape_configs:\n  - job_name: ${opts.scrape.job}\n    scrape_interval: ${opts.scrape.interval ?? "1s"}\n    file_sd_configs: [{files: [${JSON.stringify(sdFile)}]}]\n`;
  writeFileSync(cfg, yml);
  let { child, port } = await spawnPrometheus(cfg, join(dir, "data"), opts.port ?? 0);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  async function api(path: string, params: Record<string, string>) {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: { result: unknown[] }; error?: string };
    if (body.status !== "success") throw new Error(`prometheus query failed: ${body.error}`);
    return body.data.result;
  }
  async function stop(): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
  }
  return {
    url,
    writeUrl: `${url}/api/v1/write`,
    async query(expr, timeMs) {
      const params: Record<string, string> = { query: expr };
      if (timeMs !== undefined) params.time = String(timeMs / 1000);
      const result = (await api("/api/v1/query", params)) as { metric: Record<string, string>; value: [number, string] }[];
      return result.map((r) => ({ metric: r.metric, value: Number(r.value[1]), timestamp: Math.round(r.value[0] * 1000) }));
    },
    async rawSamples(selector, range, timeMs) {
      const params: Record<string, string> = { query: `${selector}[${range}]` };
      if (timeMs !== undefined) params.time = String(timeMs / 1000);
      const result = (await api("/api/v1/query", params)) as { metric: Record<string, string>; values: [number, string][] }[];
      return result.map((r) => ({ metric: r.metric, samples: r.values.map(([t, v]) => [Math.round(t * 1000), Number(v)] as [number, number]) }));
    },
    scrapeTargets(targets) {
      writeFileSync(sdFile + ".tmp", JSON.stringify([{ targets }]));
      renameSync(sdFile + ".tmp", sdFile);
    },
    async restart() {
      await stop();
      // The port was just released: retry briefly if another bind is still in the way.
      for (let attempt = 1; ; attempt++) {
        try {
          ({ child } = await spawnPrometheus(cfg, join(dir, "data"), port));
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      await waitReady(url);
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function spawnPrometheus(cfg: string, data: string, wantPort: number): Promise<{ child: ChildProcess; port: number }> {
  const child: ChildProcess = spawn(
    "prometheus",
    [`--config.file=${cfg}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${wantPort}`, "--web.enable-remote-write-receiver", "--log.level=info"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`prometheus did not start in 20 s:\n${log}`)), 20_000);
    child.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /msg="Listening on" address=127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`prometheus exited with ${code}:\n${log}`));
    });
  });
  return { child, port };
}
