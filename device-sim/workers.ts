/**
 * `--workers N`: the fleet spread over N child processes (one event loop per
 * core), each driving a contiguous slice of the vehicles. A vehicle's identity
 * and values depend only on (seed, index), so the slice a worker drives is the
 * same vehicles a single process would. Workers report their figures over IPC;
 * the parent shows the sum and, with --ledger, merges the workers' ledgers.
 */
import { fork, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import type { FleetStats } from "./fleet-stats.js";
import { mergeLedgers } from "./ledger.js";

export type WorkerMessage = { type: "stats"; stats: FleetStats } | { type: "done"; stats: FleetStats } | { type: "error"; message: string };

export interface Workers {
  stats(): FleetStats;
  /** Resolves with the summed final figures once every worker exited; rejects if one failed to start. */
  done: Promise<FleetStats>;
  /** Asks every worker to stop cleanly (SIGTERM). */
  stop(): void;
}

/** Flags the parent handles itself and hands to workers rewritten. */
function stripFlags(argv: readonly string[], flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (flags.includes(a)) {
      i++; // and its value
      continue;
    }
    if (flags.some((f) => a.startsWith(`${f}=`))) continue;
    out.push(a);
  }
  return out;
}

export function sumStats(list: readonly FleetStats[]): FleetStats {
  const total: FleetStats = { vehicles: 0, connected: 0, offline: 0, sent: 0, readings: 0, buffered: 0, dropped: 0, errors: 0, reconnects: 0, lagMs: 0, elapsedMs: 0 };
  for (const s of list) {
    total.vehicles += s.vehicles;
    total.connected += s.connected;
    total.offline += s.offline;
    total.sent += s.sent;
    total.readings += s.readings;
    total.buffered += s.buffered;
    total.dropped += s.dropped;
    total.errors += s.errors;
    total.reconnects += s.reconnects;
    total.lagMs = Math.max(total.lagMs, s.lagMs);
    total.elapsedMs = Math.max(total.elapsedMs, s.elapsedMs);
  }
  return total;
}

export function startWorkers(o: { argv: readonly string[]; workers: number; vehicles: number; ledger?: string }): Workers {
  const base = stripFlags(o.argv, ["--workers", "--ledger", "--worker-slice"]);
  const latest: FleetStats[] = [];
  const parts: string[] = [];
  const children: ChildProcess[] = [];
  let failure: string | undefined;
  const exits: Promise<void>[] = [];
  for (let i = 0; i < o.workers; i++) {
    const args = [...base, "--worker-slice", `${i}/${o.workers}`, "--quiet"];
    if (o.ledger !== undefined) {
      const part = `${o.ledger}.part${i}`;
      parts.push(part);
      args.push("--ledger", part);
    }
    // Same entry point and loader flags (tsx from source, none for dist/), so a worker is this CLI.
    const child = fork(process.argv[1]!, args, { execArgv: process.execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] });
    children.push(child);
    child.on("message", (m: WorkerMessage) => {
      if (m.type === "error") failure ??= `worker ${i}: ${m.message}`;
      else latest[i] = m.stats;
    });
    exits.push(
      new Promise((resolve) =>
        child.once("exit", (code) => {
          if (code !== 0) failure ??= `worker ${i} exited with ${code}`;
          resolve();
        }),
      ),
    );
  }
  const done = (async () => {
    await Promise.all(exits);
    if (failure !== undefined) throw new Error(failure);
    if (o.ledger !== undefined) {
      await mergeLedgers(o.ledger, parts);
      for (const p of parts) rmSync(p, { force: true });
    }
    return sumStats(latest.filter(Boolean));
  })();
  return {
    stats: () => sumStats(latest.filter(Boolean)),
    done,
    stop() {
      for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    },
  };
}
