/**
 * `npm run bench`: edgegate's hot paths, each against a baseline measured in the
 * same run on the same machine (these machines are 2 shared cores: read the
 * ratios and medians, not the absolute figures).
 *
 * 1. pipeline: message → topic rule → JSON decode → aggregation, vs JSON.parse alone.
 * 2. encode:   samples → WriteRequest → protobuf + snappy, vs protobuf alone.
 * 3. mqtt:     MQTT.js publishing into the gateway's broker and pipeline, vs bare aedes + JSON.parse.
 * 4. memory:   heap per aggregated input series.
 * 5. footprint: the production process (dist/) idle: time to /-/ready and resident memory, vs a bare node.
 * 6. regex:    the translated V8 RegExp vs re2js on typical relabel/selector patterns.
 *
 * `npm run bench -- <section>...` runs only the named sections; every run prints
 * a table and writes its figures as JSON to bench/out/.
 */
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, totalmem } from "node:os";
import { join } from "node:path";
import { Core, parseConfig, type Sample } from "../gateway/core.js";
import { encodeWriteRequest, snappyCompress, splitBatches, toTimeSeries } from "../gateway/remote-write/codec.js";
import { makePayloads } from "./payloads.js";
import { fmt, medianOf, printTable, type Row } from "./stats.js";
import { benchMqtt } from "./mqtt.js";
import { BENCH_RULES_YAML } from "./config.js";
import { benchDurableAck } from "./durable-ack.js";
import { benchFootprint } from "./footprint.js";
import { regexRates } from "./regex.js";

const CONFIG = parseConfig(BENCH_RULES_YAML, "bench");
/** The memory figure is per series: the default limits.max_series (50,000) would drop half of its 100,000. */
const CONFIG_UNLIMITED = parseConfig(`${BENCH_RULES_YAML}limits: {max_series: 0}\n`, "bench");

function pipelineRate(messages: { topic: string; payload: string }[], now: number): number {
  let emitted = 0;
  const core = new Core(CONFIG, { onDrop: () => undefined }, (s) => (emitted += s.length));
  const t0 = process.hrtime.bigint();
  for (const m of messages) core.ingest(m.topic, m.payload, now);
  core.tick(now + 3_600_000, true);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (emitted === 0) throw new Error("pipeline emitted nothing: the benchmark is not measuring aggregation");
  return messages.length / s;
}

function parseRate(messages: { topic: string; payload: string }[]): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  for (const m of messages) n += (JSON.parse(m.payload) as { rpm: number }).rpm > -1 ? 1 : 0;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return n / s;
}

function samplesFor(n: number, start: number): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ labels: { __name__: "vehicle_speed_kmh", vin: `V${i % 500}`, fleet: `f${i % 3}` }, value: i * 0.5, timestamp: start + Math.floor(i / 500) * 1000 });
  }
  return out;
}

function encodeRate(samples: Sample[], compress: boolean): number {
  const t0 = process.hrtime.bigint();
  const { series } = toTimeSeries(samples);
  let bytes = 0;
  for (const b of splitBatches(series, 2000)) {
    const pb = encodeWriteRequest(b);
    bytes += compress ? snappyCompress(pb).length : pb.length;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (bytes === 0) throw new Error("nothing encoded");
  return samples.length / s;
}

function encodeOnlyRate(samples: Sample[]): number {
  const { series } = toTimeSeries(samples);
  const batches = splitBatches(series, 2000);
  const t0 = process.hrtime.bigint();
  for (const b of batches) encodeWriteRequest(b);
  return samples.length / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function heapPerSeries(seriesCount: number, now: number): number {
  const { pipeline } = new Core(CONFIG_UNLIMITED, { onDrop: () => undefined }, () => undefined);
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  const batch: Sample[] = [];
  for (let i = 0; i < seriesCount; i++) {
    batch.push({ labels: { __name__: "vehicle_speed_kmh", vin: `EGWSM${String(i).padStart(12, "0")}`, fleet: `f${i % 3}`, model: "ev-van" }, value: i, timestamp: now });
    if (batch.length === 1000) pipeline.push(batch.splice(0), now);
  }
  pipeline.push(batch.splice(0), now);
  globalThis.gc?.();
  const after = process.memoryUsage().heapUsed;
  pipeline.tick(now + 3_600_000, true);
  return (after - before) / seriesCount;
}

const commit = (() => {
  try {
    return execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
})();

/**
 * One benchmark section: its rows for the table and its figures (plain numbers,
 * named with their unit) for the JSON record. Sections run in this order;
 * `npm run bench -- encode mqtt` runs only the named ones.
 */
export interface SectionResult {
  rows: Row[];
  figures: Record<string, number>;
}
type Section = { name: string; run: () => Promise<SectionResult> };

const now = Math.floor(Date.now() / 10_000) * 10_000;
const messages = makePayloads(1000, 50, now - 40_000);

const SECTIONS: Section[] = [
  {
    name: "pipeline",
    run: async () => {
      const pipe = await medianOf(5, () => pipelineRate(messages, now));
      const parse = await medianOf(5, () => parseRate(messages));
      return {
        rows: [{ bench: "pipeline (decode+aggregate)", figure: `${fmt(pipe)} msg/s`, baseline: `JSON.parse ${fmt(parse)} msg/s`, ratio: `${fmt(pipe / parse, 2)}×` }],
        figures: { pipeline_msgs_per_s: pipe, json_parse_msgs_per_s: parse, ratio: pipe / parse },
      };
    },
  },
  {
    name: "encode",
    run: async () => {
      const samples = samplesFor(200_000, now);
      const enc = await medianOf(5, () => encodeRate(samples, true));
      const encOnly = await medianOf(5, () => encodeOnlyRate(samples));
      return {
        rows: [{ bench: "encode (group+protobuf+snappy)", figure: `${fmt(enc)} samples/s`, baseline: `protobuf only ${fmt(encOnly)} samples/s`, ratio: `${fmt(enc / encOnly, 2)}×` }],
        figures: { encode_samples_per_s: enc, protobuf_only_samples_per_s: encOnly, ratio: enc / encOnly },
      };
    },
  },
  {
    name: "mqtt",
    run: async () => {
      const mq = await benchMqtt(messages.slice(0, 30_000));
      return {
        rows: [{ bench: "mqtt → gateway pipeline", figure: `${fmt(mq.gateway)} msg/s`, baseline: `bare aedes+JSON.parse ${fmt(mq.bare)} msg/s`, ratio: `${fmt(mq.gateway / mq.bare, 2)}×` }],
        figures: { gateway_msgs_per_s: mq.gateway, bare_aedes_msgs_per_s: mq.bare, ratio: mq.gateway / mq.bare },
      };
    },
  },
  {
    name: "durable-ack",
    run: async () => {
      const fleets = await benchDurableAck(messages.slice(0, 20_000));
      const rows: Row[] = [];
      const figures: Record<string, number> = {};
      for (const f of fleets) {
        const n = `${f.clients} devices × 20 in flight`;
        rows.push(
          {
            bench: `mqtt QoS 1, PUBACK after journal commit, ${n}`,
            figure: `${fmt(f.journal.rate)} msg/s`,
            baseline: `PUBACK before durability ${fmt(f.baseline.rate)} msg/s`,
            ratio: `${fmt(f.journal.rate / f.baseline.rate, 2)}×`,
          },
          {
            bench: `PUBACK latency (median / p99), ${n}`,
            figure: `${fmt(f.journal.p50, 2)} / ${fmt(f.journal.p99, 2)} ms`,
            baseline: `${fmt(f.baseline.p50, 2)} / ${fmt(f.baseline.p99, 2)} ms`,
            ratio: `+${fmt(f.journal.p50 - f.baseline.p50, 2)} / +${fmt(f.journal.p99 - f.baseline.p99, 2)} ms`,
          },
          {
            bench: `  same, journal committed on the main thread, ${n}`,
            figure: `${fmt(f.journalMain.rate)} msg/s`,
            baseline: `PUBACK before durability ${fmt(f.baseline.rate)} msg/s`,
            ratio: `${fmt(f.journalMain.rate / f.baseline.rate, 2)}× (+${fmt(f.journalMain.p50 - f.baseline.p50, 1)} / +${fmt(f.journalMain.p99 - f.baseline.p99, 1)} ms)`,
          },
          {
            bench: `mqtt QoS 1 durable vs bare aedes, ${n}`,
            figure: `${fmt(f.journal.rate)} msg/s`,
            baseline: `bare aedes+JSON.parse QoS 1 ${fmt(f.bare.rate)} msg/s`,
            ratio: `${fmt(f.journal.rate / f.bare.rate, 2)}×`,
          },
        );
        const k = `c${f.clients}_`;
        Object.assign(figures, {
          [`${k}journal_msgs_per_s`]: f.journal.rate,
          [`${k}ack_before_durable_msgs_per_s`]: f.baseline.rate,
          [`${k}bare_aedes_qos1_msgs_per_s`]: f.bare.rate,
          [`${k}ratio`]: f.journal.rate / f.baseline.rate,
          [`${k}journal_main_thread_msgs_per_s`]: f.journalMain.rate,
          [`${k}journal_main_thread_ratio`]: f.journalMain.rate / f.baseline.rate,
          [`${k}ratio_vs_bare_aedes`]: f.journal.rate / f.bare.rate,
          [`${k}journal_puback_p50_ms`]: f.journal.p50,
          [`${k}journal_puback_p99_ms`]: f.journal.p99,
          [`${k}baseline_puback_p50_ms`]: f.baseline.p50,
          [`${k}baseline_puback_p99_ms`]: f.baseline.p99,
          [`${k}bare_puback_p50_ms`]: f.bare.p50,
          [`${k}bare_puback_p99_ms`]: f.bare.p99,
        });
      }
      return { rows, figures };
    },
  },
  {
    name: "memory",
    run: async () => {
      const perSeries = heapPerSeries(100_000, now);
      return { rows: [{ bench: "aggregation memory", figure: `${fmt(perSeries)} B/series (100k series)`, baseline: "—", ratio: "—" }], figures: { bytes_per_series_100k: perSeries } };
    },
  },
  {
    name: "footprint",
    run: async () => {
      const fp = await benchFootprint();
      const opts = Object.entries(fp.shippedEnv).map(([k, v]) => `${k}=${v}`).join(" ");
      return {
        rows: [
          { bench: "ready (target ≤ 1 s)", figure: `${fmt(fp.gateway.readyMs)} ms`, baseline: `bare node ${fmt(fp.bare.readyMs)} ms`, ratio: `${fmt(fp.gateway.readyMs / fp.bare.readyMs, 1)}×` },
          { bench: "idle RSS (target ≤ 70 MB)", figure: `${fmt(fp.gateway.rssMb, 1)} MB`, baseline: `bare node ${fmt(fp.bare.rssMb, 1)} MB`, ratio: `${fmt(fp.gateway.rssMb / fp.bare.rssMb, 2)}×` },
          { bench: "idle RSS, systemd unit's settings", figure: `${fmt(fp.shipped.rssMb, 1)} MB (ready ${fmt(fp.shipped.readyMs)} ms)`, baseline: opts, ratio: `${fmt(fp.shipped.rssMb / fp.bare.rssMb, 2)}×` },
        ],
        figures: {
          ready_ms: fp.gateway.readyMs,
          idle_rss_mb: fp.gateway.rssMb,
          shipped_ready_ms: fp.shipped.readyMs,
          shipped_idle_rss_mb: fp.shipped.rssMb,
          bare_node_ready_ms: fp.bare.readyMs,
          bare_node_rss_mb: fp.bare.rssMb,
        },
      };
    },
  },
  {
    name: "regex",
    run: async () => {
      const regex = regexRates().map((r) => ({ ...r, ratio: r.v8 / r.re2 })).sort((a, b) => a.ratio - b.ratio);
      const mid = regex[Math.floor(regex.length / 2)]!;
      return {
        rows: [
          {
            bench: "regex (V8 translation)",
            figure: `${fmt(mid.v8)} exec/s (median pattern)`,
            baseline: `re2js ${fmt(mid.re2)} exec/s`,
            ratio: `${fmt(mid.ratio, 1)}× (range ${fmt(regex[0]!.ratio, 1)}–${fmt(regex[regex.length - 1]!.ratio, 1)}×)`,
          },
        ],
        figures: { v8_exec_per_s_median: mid.v8, re2js_exec_per_s_median: mid.re2, ratio_median: mid.ratio },
      };
    },
  },
];

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = wanted.filter((w) => !SECTIONS.some((s) => s.name === w));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench section(s): ${unknown.join(", ")}; known: ${SECTIONS.map((s) => s.name).join(", ")}\n`);
  process.exit(2);
}
process.stdout.write(`edgegate bench — commit ${commit}, node ${process.version}, ${new Date().toISOString()}\n\n`);
const rows: Row[] = [];
const record: Record<string, unknown> = {
  commit,
  date: new Date().toISOString(),
  machine: { node: process.version, platform: `${platform()} ${arch()}`, cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", total_mem_mb: Math.round(totalmem() / 2 ** 20) },
  sections: {} as Record<string, Record<string, number>>,
};
for (const section of SECTIONS) {
  if (wanted.length > 0 && !wanted.includes(section.name)) continue;
  const result = await section.run();
  rows.push(...result.rows);
  (record.sections as Record<string, Record<string, number>>)[section.name] = result.figures;
}

printTable(rows);
// The JSON record of this run (figures, commit, machine): bench/out/ is not committed;
// bench/RESULTS.md quotes the runs that matter.
const outDir = join(import.meta.dirname, "out");
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, `bench-${commit}-${Date.now()}.json`);
writeFileSync(outFile, JSON.stringify(record, null, 2) + "\n");
writeFileSync(join(outDir, "latest.json"), JSON.stringify(record, null, 2) + "\n");
process.stdout.write(`\nfigures written to ${outFile}\n`);
process.exit(0);
