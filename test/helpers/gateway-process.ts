import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** The real `edgegate` CLI as a child process (as a user runs it), with the bound addresses read from its log. */
export interface GatewayProcess {
  mqttPort: number;
  httpUrl: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM (graceful) and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export const REPO = join(import.meta.dirname, "..", "..");

export interface GatewayProcessOptions {
  /** Run the compiled `node dist/gateway/main.js` (production's start-up time) instead of the TypeScript source. */
  dist?: boolean;
  /** Extra environment (e.g. the test-only EDGEGATE_CRASH_AT). */
  env?: Record<string, string>;
}

export async function startGatewayProcess(configYaml: string, dir: string, name = "edgegate.yaml", opts: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const cfg = join(dir, name);
  writeFileSync(cfg, configYaml);
  const entry = opts.dist ? [join(REPO, "dist", "gateway", "main.js")] : ["--import", import.meta.resolve("tsx"), join(REPO, "gateway", "main.ts")];
  const child = spawn(process.execPath, [...entry, "--config", cfg, "--log-level", "info"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...opts.env },
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const started = await new Promise<{ mqtt: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`edgegate did not start in 30 s:\n${out}`)), 30_000);
    const check = () => {
      for (const line of out.split("\n")) {
        if (!line.includes('"edgegate started"')) continue;
        const rec = JSON.parse(line) as { mqtt: string; http: string };
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve(rec);
        return;
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`edgegate exited with ${code}:\n${out}`));
    });
  });
  const mqttPort = Number(started.mqtt.slice(started.mqtt.lastIndexOf(":") + 1));
  const httpPort = Number(started.http.slice(started.http.lastIndexOf(":") + 1));
  return {
    mqttPort,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    child,
    output: () => out,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
