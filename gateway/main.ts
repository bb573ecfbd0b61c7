#!/usr/bin/env node
/**
 * The edgegate process: command line, logging and signals only (the
 * gateway itself is built by app.ts, so tests can build it without a process).
 */
// First: it sets a V8 flag that must be in place before the libraries load.
import "./startup-memory.js";
import { Command, Option } from "commander";
import { ConfigError } from "./config/config-error.js";
import { loadConfigIsolated } from "./config/load-isolated.js";
import { DEFAULT_CONFIG_YAML } from "./config/defaults.js";
import { outboxCommand } from "./outbox/cli.js";
import { queueTarget } from "./remote-write/queue-names.js";
import { passwdCommand } from "./passwd-cli.js";
import { securityFileProblems } from "./ingest/auth/check-files.js";
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat } from "./logging/logger.js";
import { versionText } from "./version-text.js";

type RunOptions = { config?: string; logLevel: string; "log.level"?: string; "log.format"?: LogFormat };

// Go-style single-dash flags, as vmagent and Telegraf accept them (`-version`, `-config.file`-like spellings are not ours).
const argv = process.argv.map((a, i) => (i >= 2 && (a === "-version" || a === "-v") ? "--version" : a));

function fail(message: string, code = 1): never {
  process.stderr.write(message.endsWith("\n") ? message : message + "\n");
  process.exit(code);
}

async function runGateway(opts: RunOptions): Promise<void> {
  const log = createLogger(opts["log.level"] ?? opts.logLevel, opts["log.format"]);
  let config;
  try {
    // Validated in a worker thread: the validator stays out of the long-running process's memory.
    config = await loadConfigIsolated(opts.config);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  // Imported here, not at the top: the gateway's libraries are then parsed after startup-memory.js
  // has set its V8 flag (static imports are all parsed before any module runs).
  const { buildGateway } = await import("./app.js");
  let gateway;
  try {
    gateway = buildGateway(config, { log, configFile: opts.config });
  } catch (err) {
    fail(`${opts.config ?? "built-in defaults"}: ${(err as Error).message}`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now; what is committed to the outbox is kept");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // SIGHUP reloads the config file (as Prometheus and vmagent do); the reloader logs the outcome.
  process.on("SIGHUP", () => {
    if (!stopping) void gateway.reloadConfig("SIGHUP");
  });
  try {
    await gateway.start();
  } catch (err) {
    log.fatal({ err }, `cannot start: ${(err as Error).message}`);
    await gateway.close().catch(() => undefined);
    process.exit(1);
  }
}

const program = new Command()
  .name("edgegate")
  .description("IoT push-gateway: MQTT in, pre-processing, SQLite store-and-forward, Prometheus Remote-Write out")
  .version(versionText(), "-V, --version", "print version, revision and Node.js version, then exit")
  .option("--config <file>", "YAML configuration file (default: built-in defaults, see --print-defaults)")
  .option("--check-config <file>", "validate a configuration file and exit (0 = valid, 1 = invalid)")
  .option("--print-defaults", "print the built-in default configuration and exit")
  .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
  .addOption(new Option("--log.level <level>", "log level (Prometheus spelling; wins over --log-level)").choices(LOG_LEVELS))
  .addOption(new Option("--log.format <format>", "log format: logfmt (default on a terminal) or json (default otherwise)").choices(LOG_FORMATS))
  .action(async (opts: RunOptions & { checkConfig?: string; printDefaults?: boolean }) => {
    if (opts.printDefaults) {
      process.stdout.write(DEFAULT_CONFIG_YAML);
      return;
    }
    if (opts.checkConfig) {
      try {
        const { loadConfigFile } = await import("./config/load.js");
        const { buildGateway } = await import("./app.js");
        const config = loadConfigFile(opts.checkConfig);
        buildGateway(config); // compiles topic templates and selectors: their errors are config errors too
        const files = securityFileProblems(config); // password/ACL files and certificates as the gateway will load them
        if (files.length > 0) throw new ConfigError(opts.checkConfig, files);
        process.stdout.write(`${opts.checkConfig}: configuration is valid\n`);
        return;
      } catch (err) {
        fail(err instanceof ConfigError ? err.message : `${opts.checkConfig}: invalid configuration:\n  ${(err as Error).message}`);
      }
    }
    await runGateway(opts);
  });

program
  .command("receive")
  .description("run a debugging Remote-Write receiver that prints every series and sample it gets")
  .option("--listen <host:port>", "address to listen on", "127.0.0.1:9201")
  .action(async (opts: { listen: string }) => {
    // Loaded only for this subcommand: the gateway itself never needs the receiver.
    const { startDebugReceiver } = await import("./remote-write/receiver.js");
    const receiver = await startDebugReceiver({ listen: opts.listen, out: process.stdout });
    process.stderr.write(`edgegate receive: listening on ${receiver.url}\n`);
    const stop = () => void receiver.close().then(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });

// Options after a subcommand name belong to it (`edgegate outbox status --config F`).
program.enablePositionalOptions();
program.addCommand(outboxCommand(queueTarget));
program.addCommand(passwdCommand());

program.parseAsync(argv).catch((err: unknown) => fail(`edgegate: ${(err as Error).message}`));
