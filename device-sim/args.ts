/**
 * Command-line flags of device-sim. Every parser throws InvalidArgumentError,
 * so commander's message names the flag (`option '--interval <duration>'
 * argument 'foo' is invalid. …`); cli.ts turns it into exit code 2.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../gateway/config/duration.js";
import { DEFAULT_FLEETS, DEFAULT_TOPIC_PREFIX } from "./messages.js";
import { MAX_UNIQUE_VINS } from "./vin.js";

export interface CliOptions {
  url: string;
  vehicles: number;
  intervalMs: number;
  durationMs: number;
  seed: number;
  qos: 0 | 1;
  topicPrefix: string;
  fleets: number;
  username?: string;
  password?: string;
  quiet: boolean;
}

const BROKER_PROTOCOLS = new Set(["mqtt:", "mqtts:", "tcp:", "ssl:", "tls:", "ws:", "wss:"]);

function parseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError("not a URL (e.g. mqtt://127.0.0.1:1883)");
  }
  if (!BROKER_PROTOCOLS.has(url.protocol)) {
    throw new InvalidArgumentError(`unsupported scheme ${url.protocol} (use mqtt:, mqtts:, ws: or wss:)`);
  }
  return text;
}

const intIn =
  (lo: number, hi: number) =>
  (text: string): number => {
    const n = /^-?\d+$/.test(text.trim()) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`expected an integer in ${lo}..${hi}`);
    return n;
  };

const duration =
  (allowZero: boolean) =>
  (text: string): number => {
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    if (!allowZero && ms === 0) throw new InvalidArgumentError("must be greater than 0");
    return ms;
  };

function parseQos(text: string): 0 | 1 {
  if (text === "0") return 0;
  if (text === "1") return 1;
  throw new InvalidArgumentError("expected 0 or 1 (QoS 2 is not simulated)");
}

function parsePrefix(text: string): string {
  // [MQTT-4.7.1-1] wildcards are not allowed in a PUBLISH topic name.
  if (text === "" || /[+#\u0000]/.test(text)) throw new InvalidArgumentError("must be non-empty and contain no + # or NUL");
  return text.replace(/\/+$/, "");
}

export function buildProgram(): Command {
  return new Command("device-sim")
    .description("Simulated connected-vehicle fleet: one MQTT 3.1.1 client per vehicle publishing JSON telemetry")
    .addOption(new Option("--url <url>", "broker URL").default("mqtt://127.0.0.1:1883").argParser(parseUrl))
    .addOption(new Option("--vehicles <n>", "number of vehicles (one MQTT client each)").default(10).argParser(intIn(1, MAX_UNIQUE_VINS)))
    .addOption(new Option("--interval <duration>", "publish interval per vehicle (500ms, 1s, …)").default(1000, "1s").argParser(duration(false)))
    .addOption(new Option("--duration <duration>", "run time; 0 = until SIGINT/SIGTERM").default(0, "0").argParser(duration(true)))
    .addOption(new Option("--seed <int>", "seed: the same seed gives the same VINs and values").default(1).argParser(intIn(-(2 ** 31), 2 ** 32 - 1)))
    .addOption(new Option("--qos <0|1>", "MQTT QoS of each publish").default(1).argParser(parseQos))
    .addOption(new Option("--topic-prefix <prefix>", "topics are <prefix>/<vin>/telemetry").default(DEFAULT_TOPIC_PREFIX).argParser(parsePrefix))
    .addOption(new Option("--fleets <n>", "number of fleets the vehicles are spread over").default(DEFAULT_FLEETS).argParser(intIn(1, 1000)))
    .addOption(new Option("--username <name>", "MQTT username"))
    .addOption(new Option("--password <secret>", "MQTT password (prefer the env variable: argv is visible in ps)").env("DEVICE_SIM_PASSWORD"))
    .addOption(new Option("--quiet", "no live line, only the summary").default(false))
    .allowExcessArguments(false)
    .showHelpAfterError("(run device-sim --help for usage)");
}

/**
 * Parses argv (without `node` and the script). Throws commander's
 * CommanderError on bad input or after printing --help (exitCode 0).
 */
export function parseCliArgs(argv: readonly string[], output?: { writeOut(s: string): void; writeErr(s: string): void }): CliOptions {
  const program = buildProgram().exitOverride();
  if (output) program.configureOutput(output);
  program.parse([...argv], { from: "user" });
  const o = program.opts<{
    url: string;
    vehicles: number;
    interval: number;
    duration: number;
    seed: number;
    qos: 0 | 1;
    topicPrefix: string;
    fleets: number;
    username?: string;
    password?: string;
    quiet: boolean;
  }>();
  return {
    url: o.url,
    vehicles: o.vehicles,
    intervalMs: o.interval,
    durationMs: o.duration,
    seed: o.seed,
    qos: o.qos,
    topicPrefix: o.topicPrefix,
    fleets: o.fleets,
    quiet: o.quiet,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
  };
}
