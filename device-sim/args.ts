/**
 * Command-line flags of device-sim. Every parser throws InvalidArgumentError,
 * so commander's message names the flag (`option '--interval <duration>'
 * argument 'foo' is invalid. …`); cli.ts turns it into exit code 2.
 * `device-sim verify …` has its own flags (verify-args.ts).
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../gateway/core.js";
import { DEFAULT_FLEETS, DEFAULT_TOPIC_PREFIX } from "./messages.js";
import { MODES, type PayloadMode } from "./payloads.js";
import { DEFAULT_CONNECTIVITY, type OutageKind } from "./connectivity.js";
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
  mode?: PayloadMode;
  /** Total readings per second (overrides intervalMs: interval = vehicles / rate). */
  ratePerS?: number;
  batchSize?: number;
  /** flink-batch: send a partial batch once its oldest event is this old. */
  batchMaxAgeMs?: number;
  replayBatch?: number;
  bufferSize?: number;
  persistentSession?: boolean;
  deadZones?: OutageKind;
  tunnels?: OutageKind;
  outages?: OutageKind;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  workers?: number;
  ledger?: string;
  drainTimeoutMs?: number;
  /** How long each round of 200 connections may take at start. */
  connectTimeoutMs?: number;
  /** Internal: this process is worker i of n (set by --workers). */
  workerSlice?: { index: number; of: number };
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

const positive = (text: string): number => {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a number > 0");
  return n;
};

const nonNegative = (text: string): number => {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number ≥ 0");
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

/** `5s-30s`, or one duration for a fixed length. */
function durationRange(text: string): [number, number] {
  const [a, b = a] = text.split("-");
  const lo = duration(false)(a ?? "");
  const hi = duration(false)(b ?? "");
  if (hi < lo) throw new InvalidArgumentError("the range must be MIN-MAX with MIN ≤ MAX");
  return [lo, hi];
}

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

function parseSlice(text: string): { index: number; of: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const of = Number(m?.[2]);
  if (!m || of < 1 || index >= of) throw new InvalidArgumentError("expected i/n with 0 ≤ i < n");
  return { index, of };
}

const fmtRange = (k: OutageKind): string => `${k.minMs / 1000}s-${k.maxMs / 1000}s`;

export function buildProgram(): Command {
  const d = DEFAULT_CONNECTIVITY;
  return new Command("device-sim")
    .description("Simulated connected-vehicle fleet: one MQTT 3.1.1 client per vehicle. `device-sim verify --help` checks delivery against Prometheus.")
    .addOption(new Option("--url <url>", "broker URL (mqtt://, mqtts://, ws://, wss://)").default("mqtt://127.0.0.1:1883").argParser(parseUrl))
    .addOption(new Option("--vehicles <n>", "number of vehicles (one MQTT client each)").default(10).argParser(intIn(1, MAX_UNIQUE_VINS)))
    .addOption(new Option("--mode <mode>", "payload: telemetry (JSON object), batch (JSON arrays), protobuf (proto/telemetry.proto), flink-events (the Flink demo's event stream, one event per message), flink-batch (the same events, JSON arrays of --batch-size per message)").choices(MODES))
    .addOption(new Option("--interval <duration>", "reading interval per vehicle (500ms, 1s, …)").default(1000, "1s").argParser(duration(false)))
    .addOption(new Option("--rate <per-second>", "target total readings (flink-events: events) per second across the fleet; overrides --interval").argParser(positive))
    .addOption(new Option("--duration <duration>", "run time; 0 = until SIGINT/SIGTERM").default(0, "0").argParser(duration(true)))
    .addOption(new Option("--seed <int>", "seed: the same seed gives the same vehicles and values").default(1).argParser(intIn(-(2 ** 31), 2 ** 32 - 1)))
    .addOption(new Option("--qos <0|1>", "MQTT QoS of each publish").default(1).argParser(parseQos))
    .addOption(new Option("--persistent-session", "connect with clean session = false (the broker keeps the session across reconnects)"))
    .addOption(new Option("--topic-prefix <prefix>", "telemetry topics are <prefix>/<vin>/telemetry (flink-events: fleet/<region>/<id>/events)").default(DEFAULT_TOPIC_PREFIX).argParser(parsePrefix))
    .addOption(new Option("--fleets <n>", "number of fleets the vehicles are spread over").default(DEFAULT_FLEETS).argParser(intIn(1, 1000)))
    .addOption(new Option("--batch-size <n>", "batch / flink-batch modes: readings (events) per message (default 10)").argParser(intIn(1, 10_000)))
    .addOption(new Option("--batch-max-age <duration>", "flink-batch: send a partial batch once its oldest event is this old (default: none, always --batch-size events)").argParser(duration(false)))
    .addOption(new Option("--replay-batch <n>", "most readings per message when a backlog is replayed (default 100)").argParser(intIn(1, 10_000)))
    .addOption(new Option("--buffer <readings>", "per-vehicle offline buffer; when full the oldest reading is overwritten (default 3600)").argParser(intIn(1, 10_000_000)))
    .addOption(new Option("--dead-zones <per-hour>", "short coverage gaps per vehicle and hour").argParser(nonNegative))
    .addOption(new Option("--dead-zone-duration <min-max>", `dead zone length (default ${fmtRange(d.deadZones)})`).argParser(durationRange))
    .addOption(new Option("--tunnels <per-hour>", "tunnels per vehicle and hour").argParser(nonNegative))
    .addOption(new Option("--tunnel-duration <min-max>", `tunnel length (default ${fmtRange(d.tunnels)})`).argParser(durationRange))
    .addOption(new Option("--outages <per-hour>", "long outages per vehicle and hour").argParser(nonNegative))
    .addOption(new Option("--outage-duration <min-max>", `long outage length (default ${fmtRange(d.outages)})`).argParser(durationRange))
    .addOption(new Option("--username <name>", "MQTT username"))
    .addOption(new Option("--password <secret>", "MQTT password (prefer the env variable: argv is visible in ps)").env("DEVICE_SIM_PASSWORD"))
    .addOption(new Option("--ca <file>", "PEM CA certificate(s) to trust for mqtts:// / wss://"))
    .addOption(new Option("--cert <file>", "PEM client certificate (mutual TLS)"))
    .addOption(new Option("--key <file>", "PEM private key of --cert"))
    .addOption(new Option("--insecure", "accept any server certificate (testing only)"))
    .addOption(new Option("--workers <n>", "spread the vehicles over n worker processes").argParser(intIn(1, 256)))
    .addOption(new Option("--ledger <file>", "record every delivered message for `device-sim verify`"))
    .addOption(new Option("--drain-timeout <duration>", "at the end, how long to wait for offline backlogs to be sent (default 30s)").argParser(duration(false)))
    .addOption(new Option("--connect-timeout <duration>", "at start, how long a round of 200 connections may take before the run fails (default 10s)").argParser(duration(false)))
    .addOption(new Option("--worker-slice <i/n>", "internal: run worker i of n").argParser(parseSlice).hideHelp())
    .addOption(new Option("--quiet", "no live line, only the summary").default(false))
    .allowExcessArguments(false)
    .showHelpAfterError("(run device-sim --help for usage)");
}

type Raw = {
  url: string; vehicles: number; interval: number; duration: number; seed: number; qos: 0 | 1; topicPrefix: string; fleets: number;
  username?: string; password?: string; quiet: boolean; mode?: PayloadMode; rate?: number; batchSize?: number; batchMaxAge?: number; replayBatch?: number;
  buffer?: number; persistentSession?: boolean; deadZones?: number; deadZoneDuration?: [number, number]; tunnels?: number;
  tunnelDuration?: [number, number]; outages?: number; outageDuration?: [number, number]; ca?: string; cert?: string; key?: string;
  insecure?: boolean; workers?: number; ledger?: string; drainTimeout?: number; connectTimeout?: number; workerSlice?: { index: number; of: number };
};

function outage(perHour: number | undefined, range: [number, number] | undefined, dflt: OutageKind): OutageKind | undefined {
  if (perHour === undefined && range === undefined) return undefined;
  return { perHour: perHour ?? 0, minMs: range?.[0] ?? dflt.minMs, maxMs: range?.[1] ?? dflt.maxMs };
}

/**
 * Parses argv (without `node` and the script). Throws commander's
 * CommanderError on bad input or after printing --help (exitCode 0).
 * Options not given stay absent, so the library's defaults apply.
 */
export function parseCliArgs(argv: readonly string[], output?: { writeOut(s: string): void; writeErr(s: string): void }): CliOptions {
  const program = buildProgram().exitOverride();
  if (output) program.configureOutput(output);
  program.parse([...argv], { from: "user" });
  const o = program.opts<Raw>();
  const d = DEFAULT_CONNECTIVITY;
  const opt = <K extends keyof CliOptions>(k: K, v: CliOptions[K] | undefined): Partial<CliOptions> => (v === undefined ? {} : { [k]: v });
  return {
    url: o.url,
    vehicles: o.vehicles,
    intervalMs: o.rate !== undefined ? (o.vehicles * 1000) / o.rate : o.interval,
    durationMs: o.duration,
    seed: o.seed,
    qos: o.qos,
    topicPrefix: o.topicPrefix,
    fleets: o.fleets,
    quiet: o.quiet,
    ...opt("username", o.username),
    ...opt("password", o.password),
    ...opt("mode", o.mode),
    ...opt("ratePerS", o.rate),
    ...opt("batchSize", o.batchSize),
    ...opt("batchMaxAgeMs", o.batchMaxAge),
    ...opt("replayBatch", o.replayBatch),
    ...opt("bufferSize", o.buffer),
    ...opt("persistentSession", o.persistentSession),
    ...opt("deadZones", outage(o.deadZones, o.deadZoneDuration, d.deadZones)),
    ...opt("tunnels", outage(o.tunnels, o.tunnelDuration, d.tunnels)),
    ...opt("outages", outage(o.outages, o.outageDuration, d.outages)),
    ...opt("ca", o.ca),
    ...opt("cert", o.cert),
    ...opt("key", o.key),
    ...opt("insecure", o.insecure),
    ...opt("workers", o.workers),
    ...opt("ledger", o.ledger),
    ...opt("drainTimeoutMs", o.drainTimeout),
    ...opt("connectTimeoutMs", o.connectTimeout),
    ...opt("workerSlice", o.workerSlice),
  };
}
