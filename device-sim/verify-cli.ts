/** `device-sim verify` flags and output: per-series report on stdout, exit 0 (all match) / 1 (not) / 2 (bad flags). */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { parseDuration, type Config } from "../gateway/core.js";
import { ConfigError, defaultConfig, loadConfigFile } from "../gateway/config/load.js";
import { formatReport, verify } from "./verify.js";

export interface VerifyCliOptions {
  ledger: string;
  prometheus: string;
  config?: string;
  waitMs: number;
  verbose: boolean;
}

function waitDuration(text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function httpUrl(text: string): string {
  if (!/^https?:\/\//.test(text) || !URL.canParse(text)) throw new InvalidArgumentError("expected an http(s) URL, e.g. http://127.0.0.1:9090");
  return text;
}

export function parseVerifyArgs(argv: readonly string[], output?: { writeOut(s: string): void; writeErr(s: string): void }): VerifyCliOptions {
  const program = new Command("device-sim verify")
    .description("Checks that what a run sent (its --ledger) arrived in Prometheus through the gateway's pipeline. Exit 0 when every series matches, 1 otherwise.")
    .addOption(new Option("--ledger <file>", "ledger written by `device-sim --ledger`").makeOptionMandatory())
    .addOption(new Option("--prometheus <url>", "Prometheus base URL (its HTTP query API)").makeOptionMandatory().argParser(httpUrl))
    .addOption(new Option("--config <file>", "the edgegate config the gateway ran with (default: its built-in defaults)"))
    .addOption(new Option("--wait <duration>", "keep re-checking mismatching series this long (windows close allowed_lateness after they end)").default(30_000, "30s").argParser(waitDuration))
    .addOption(new Option("--verbose", "list matching series too").default(false))
    .allowExcessArguments(false)
    .exitOverride();
  if (output) program.configureOutput(output);
  program.parse([...argv], { from: "user" });
  const o = program.opts<{ ledger: string; prometheus: string; config?: string; wait: number; verbose: boolean }>();
  return { ledger: o.ledger, prometheus: o.prometheus, waitMs: o.wait, verbose: o.verbose, ...(o.config !== undefined ? { config: o.config } : {}) };
}

export async function runVerify(argv: readonly string[]): Promise<number> {
  let opts: VerifyCliOptions;
  try {
    opts = parseVerifyArgs(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  let config: Config;
  try {
    config = opts.config !== undefined ? loadConfigFile(opts.config) : defaultConfig();
  } catch (err) {
    process.stderr.write(`device-sim verify: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    return 1;
  }
  try {
    const result = await verify({ ledger: opts.ledger, prometheusUrl: opts.prometheus, config, waitMs: opts.waitMs, log: (l) => process.stderr.write(`${l}\n`) });
    process.stdout.write(`${formatReport(result, { verbose: opts.verbose })}\n`);
    return result.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`device-sim verify: ${(err as Error).message}\n`);
    return 1;
  }
}
