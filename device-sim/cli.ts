#!/usr/bin/env node
/**
 * device-sim: process concerns only (argv, signals, exit codes, output).
 *   device-sim --url mqtt://127.0.0.1:1883 --vehicles 100 --interval 1s --duration 30s --seed 42
 * Exit codes: 0 ok (including a clean stop on SIGINT/SIGTERM), 1 broker unreachable
 * or refused, 2 bad flags. Live line on stderr, summary on stdout.
 */
import { CommanderError } from "commander";
import { formatDuration } from "../gateway/config/duration.js";
import { parseCliArgs, type CliOptions } from "./args.js";
import { startFleet, type Fleet } from "./fleet.js";
import { formatSummary, startProgress } from "./progress.js";

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

async function main(argv: readonly string[]): Promise<number> {
  const opts = parse(argv);
  if (typeof opts === "number") return opts;
  const duration = opts.durationMs > 0 ? formatDuration(opts.durationMs) : "until SIGINT/SIGTERM";
  process.stderr.write(
    `device-sim: ${opts.vehicles} vehicle(s) → ${safeUrl(opts.url)}  interval ${formatDuration(opts.intervalMs)}  ` +
      `duration ${duration}  seed ${opts.seed}  qos ${opts.qos}  fleets ${opts.fleets}\n`,
  );

  let fleet: Fleet;
  try {
    fleet = await startFleet({
      url: opts.url,
      vehicles: opts.vehicles,
      intervalMs: opts.intervalMs,
      durationMs: opts.durationMs,
      seed: opts.seed,
      qos: opts.qos,
      topicPrefix: opts.topicPrefix,
      fleets: opts.fleets,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    });
  } catch (err) {
    process.stderr.write(`device-sim: ${(err as Error).message}\n`);
    return 1;
  }

  const progress = opts.quiet ? undefined : startProgress({ stats: fleet.stats, out: process.stderr, tty: process.stderr.isTTY === true });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // First signal: stop cleanly (drain PUBACKs, disconnect, summary). Second: the user means it.
    if (++signals > 1) process.exit(130);
    process.stderr.write(`\ndevice-sim: ${sig}, stopping…\n`);
    void fleet.stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const final = await fleet.done;
  progress?.stop();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.stdout.write(`${formatSummary(final)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`device-sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
