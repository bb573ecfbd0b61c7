#!/usr/bin/env node
/**
 * device-sim: process concerns only (argv, signals, exit codes, output).
 *   device-sim --url mqtt://127.0.0.1:1883 --vehicles 100 --interval 1s --duration 30s --seed 42 [--ledger run.jsonl]
 *   device-sim verify --ledger run.jsonl --prometheus http://127.0.0.1:9090 [--config edgegate.yaml]
 * Exit codes (run): 0 ok (including a clean stop on SIGINT/SIGTERM), 1 broker
 * unreachable or refused, 2 bad flags. Live line on stderr, summary on stdout.
 * verify: 0 everything matches, 1 a series does not (or Prometheus/ledger unusable), 2 bad flags.
 */
import { CommanderError } from "commander";
import { formatDuration } from "../gateway/core.js";
import { parseCliArgs, type CliOptions } from "./args.js";
import { startFleet, type Fleet } from "./fleet.js";
import type { FleetStats } from "./fleet-stats.js";
import { LedgerWriter } from "./ledger.js";
import { formatSummary, startProgress } from "./progress.js";
import { fleetOptions, workerSlice } from "./run-options.js";
import { runVerify } from "./verify-cli.js";
import { startWorkers, type WorkerMessage } from "./workers.js";

function parse(argv: readonly string[]): CliOptions | number {
  try {
    return parseCliArgs(argv);
  } catch (err) {
    // commander has already printed the message (it names the flag); help/version exit 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
}

/** Redacts the password if the URL carries one (mqtt://user:secret@host). */
function safeUrl(text: string): string {
  const url = new URL(text);
  if (url.password) url.password = "***";
  return url.toString();
}

interface Running {
  stats(): FleetStats;
  done: Promise<FleetStats>;
  stop(): void;
}

/** Runs in this process (or as worker i of n, reporting over IPC). */
async function startHere(opts: CliOptions): Promise<Running> {
  const slice = opts.workerSlice ? workerSlice(opts.vehicles, opts.workerSlice.index, opts.workerSlice.of) : undefined;
  const ledger = opts.ledger !== undefined ? new LedgerWriter(opts.ledger, { mode: opts.mode ?? "telemetry", seed: opts.seed, qos: opts.qos, started_at: Date.now() }) : undefined;
  let fleet: Fleet;
  try {
    fleet = await startFleet({ ...fleetOptions(opts, slice), ...(ledger ? { ledger } : {}) });
  } catch (err) {
    ledger?.close();
    throw err;
  }
  const flushLedger = ledger ? setInterval(() => ledger.flush(), 1000) : undefined;
  const done = fleet.done.then((s) => {
    clearInterval(flushLedger);
    ledger?.close();
    return s;
  });
  return { stats: fleet.stats, done, stop: () => void fleet.stop() };
}

async function run(argv: readonly string[]): Promise<number> {
  const opts = parse(argv);
  if (typeof opts === "number") return opts;
  const worker = opts.workerSlice !== undefined && typeof process.send === "function";
  if (!worker) {
    const duration = opts.durationMs > 0 ? formatDuration(opts.durationMs) : "until SIGINT/SIGTERM";
    process.stderr.write(
      `device-sim: ${opts.vehicles} vehicle(s) → ${safeUrl(opts.url)}  mode ${opts.mode ?? "telemetry"}  interval ${formatDuration(Math.round(opts.intervalMs))}  ` +
        `duration ${duration}  seed ${opts.seed}  qos ${opts.qos}  fleets ${opts.fleets}${opts.workers ? `  workers ${opts.workers}` : ""}\n`,
    );
  }

  let running: Running;
  try {
    running =
      opts.workers !== undefined && opts.workers > 1 && !worker
        ? startWorkers({ argv, workers: opts.workers, vehicles: opts.vehicles, ...(opts.ledger !== undefined ? { ledger: opts.ledger } : {}) })
        : await startHere(opts);
  } catch (err) {
    if (worker) process.send!({ type: "error", message: (err as Error).message } satisfies WorkerMessage);
    process.stderr.write(`device-sim: ${(err as Error).message}\n`);
    return 1;
  }

  const report = worker ? setInterval(() => process.send!({ type: "stats", stats: running.stats() } satisfies WorkerMessage), 500) : undefined;
  const progress = opts.quiet || worker ? undefined : startProgress({ stats: running.stats, out: process.stderr, tty: process.stderr.isTTY === true });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // First signal: stop cleanly (drain backlogs and PUBACKs, disconnect, summary). Second: the user means it.
    if (++signals > 1) process.exit(130);
    if (!worker) process.stderr.write(`\ndevice-sim: ${sig}, stopping…\n`);
    running.stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let final: FleetStats;
  try {
    final = await running.done;
  } catch (err) {
    progress?.stop();
    process.stderr.write(`device-sim: ${(err as Error).message}\n`);
    return 1;
  } finally {
    clearInterval(report);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  progress?.stop();
  if (worker) {
    await new Promise<void>((resolve) => process.send!({ type: "done", stats: final } satisfies WorkerMessage, () => resolve()));
    return 0;
  }
  process.stdout.write(`${formatSummary(final)}\n`);
  if (opts.ledger !== undefined) process.stderr.write(`device-sim: ledger written to ${opts.ledger}\n`);
  return 0;
}

const argv = process.argv.slice(2);
(argv[0] === "verify" ? runVerify(argv.slice(1)) : run(argv)).then(
  (code) => {
    process.exitCode = code;
    // A worker's IPC channel would otherwise keep it alive.
    if (process.send !== undefined) process.disconnect?.();
  },
  (err: unknown) => {
    process.stderr.write(`device-sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
