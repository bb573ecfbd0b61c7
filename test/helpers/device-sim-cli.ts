import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./gateway-process.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the device-sim CLI as a user would, in its own process: from the
 * TypeScript source (tsx), or with `dist: true` from the build (`node
 * dist/device-sim/cli.js`, what a test that kills processes must run). The
 * process is SIGKILLed after `timeoutMs`, so a hung run ends the test.
 */
export function startDeviceSim(args: string[], timeoutMs: number, o: { dist?: boolean } = {}): { done: Promise<CliResult>; kill: () => void } {
  const entry = o.dist ? [join(REPO, "dist", "device-sim", "cli.js")] : ["--import", "tsx", "device-sim/cli.ts"];
  const child = spawn(process.execPath, [...entry, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, kill: () => child.kill("SIGKILL") };
}

/** `startDeviceSim` from the source, awaited. */
export function runDeviceSim(args: string[], timeoutMs: number): Promise<CliResult> {
  return startDeviceSim(args, timeoutMs).done;
}

/**
 * The shipped deploy/examples/flink-demo.yaml as a test runs it: both listeners
 * on ephemeral loopback ports, the outbox in the test's folder (flushed every
 * 200 ms), the vehicles file by absolute path, and `writeUrl` as the target.
 */
export function flinkDemoYaml(writeUrl: string): string {
  const shipped = readFileSync(join(REPO, "deploy", "examples", "flink-demo.yaml"), "utf8");
  const yaml = shipped
    .replace('listen: "0.0.0.0:1883"', 'listen: "127.0.0.1:0"')
    .replace('listen: "0.0.0.0:9480"', 'listen: "127.0.0.1:0"')
    .replace('path: "./data/flink-demo.db"', 'path: "./outbox.db"\n  flush_interval: 200ms')
    .replace("file: vehicles.csv", `file: ${join(REPO, "deploy", "examples", "vehicles.csv")}`)
    .replace('url: "http://127.0.0.1:9090/api/v1/write"', `url: "${writeUrl}"`);
  assert.notEqual(yaml, shipped);
  assert.match(yaml, new RegExp(writeUrl.replace(/[.]/g, "\\.")));
  return yaml;
}
