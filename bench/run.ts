/**
 * `npm run bench`: edgegate's hot paths, each against a baseline measured in the
 * same run on the same machine (these machines are 2 shared cores: read the
 * ratios and medians, not the absolute figures).
 *
 * 1. pipeline: message → topic rule → JSON decode → aggregation, vs JSON.parse alone (per CPU second).
 * 2. encode:   samples → series → WriteRequest → snappy (the sink's flush), vs protobufjs reflection + the same snappy (grouped beforehand, and with grouping).
 * 9. flink-demo: the Flink demo's event stream from 10,000 connections through flink-demo.yaml (own processes).
 * 3. mqtt:     MQTT.js publishing into the gateway's broker and pipeline, vs bare aedes + JSON.parse.
 * 4. cardinality: 100k / 500k / 1M active input series: bytes per series, max event-loop delay during a window flush and its checkpoint.
 * 5. footprint: the production process (dist/) idle: time to /-/ready and resident memory, vs a bare node.
 * 6. regex:    the translated V8 RegExp vs re2js on typical relabel/selector patterns.
 * 7. replay:   1M samples buffered in an outage drained into a fresh Prometheus, vs Debian's vmagent draining the same.
 * 8. ingest:   the production process fed by external publishers (QoS 0, QoS 1) vs bare aedes + JSON.parse, each in its own process.
 *
 * `npm run bench -- <section>...` runs only the named sections; every run prints
 * a table and writes its figures as JSON to bench/out/.
 */
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, totalmem } from "node:os";
import { join } from "node:path";
import { Core } from "../gateway/core.js";
import { gitRevision } from "../gateway/metrics/build-info.js";
import { parseConfig } from "../gateway/config/load.js";
import { makePayloads } from "./payloads.js";
import { fmt, median, medianOf, printTable, type Row } from "./stats.js";
import { benchMqtt } from "./mqtt.js";
import { BENCH_RULES_YAML } from "./config.js";
import { benchDurableAck, DEVICES_NODELAY } from "./durable-ack.js";
import { benchFootprint } from "./footprint.js";
import { regexRates } from "./regex.js";
import { flinkDemoSection } from "./flink-demo.js";
import { benchCardinality, type CardinalityResult } from "./cardinality.js";
import { SHAPES, benchEncode } from "./encode.js";
import { REPLAY_SAMPLES, benchReplay } from "./replay.js";

import { benchIngest, cpuCeiling } from "./ingest.js";

const CONFIG = parseConfig(BENCH_RULES_YAML, "bench");

/**
 * CPU seconds of this process (user + system): the pipeline section runs on
 * one thread, and on a machine shared with other work its CPU time varies far
 * less than its wall time (which counts the time other processes ran).
 */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function pipelineRate(messages: { topic: string; payload: string }[], now: number): number {
  let emitted = 0;
  const core = new Core(CONFIG, { onDrop: () => undefined }, (s) => (emitted += s.length));
  const t0 = cpuSeconds();
  for (const m of messages) core.ingest(m.topic, m.payload, now);
  core.tick(now + 3_600_000, true);
  const s = cpuSeconds() - t0;
  if (emitted === 0) throw new Error("pipeline emitted nothing: the benchmark is not measuring aggregation");
  return messages.length / s;
}

function parseRate(messages: { topic: string; payload: string }[]): number {
  let n = 0;
  const t0 = cpuSeconds();
  for (const m of messages) n += (JSON.parse(m.payload) as { rpm: number }).rpm > -1 ? 1 : 0;
  const s = cpuSeconds() - t0;
  return n / s;
}

/** Sections that run the production process or device-sim from dist/ (`node dist/...`), as a user runs them. */
const DIST_SECTIONS = new Set(["footprint", "flink-demo", "replay", "ingest"]);

/**
 * Those sections measure dist/, and the run is recorded under HEAD's commit: a dist/ built from
 * another commit (or none) would put one commit's figures under another's name. Rebuild it then
 * (uncommitted edits are not detected: `npm run build` after editing).
 */
function ensureDistBuilt(): void {
  const repo = join(import.meta.dirname, "..");
  const head = gitRevision(repo);
  if (head === null) return; // not a checkout: nothing to compare against, use the dist/ that is there
  let built = "";
  try {
    built = (JSON.parse(readFileSync(join(repo, "dist", "build-info.json"), "utf8")) as { revision?: string }).revision ?? "";
  } catch {
    built = "";
  }
  if (built === head && existsSync(join(repo, "dist", "gateway", "main.js"))) return;
  process.stdout.write(`dist/ ${built === "" ? "is missing" : `was built from ${built.slice(0, 7)}`}, HEAD is ${head.slice(0, 7)}: npm run build\n`);
  execSync("npm run build", { cwd: repo, stdio: ["ignore", "inherit", "inherit"] });
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
        rows: [{ bench: "pipeline (decode+aggregate)", figure: `${fmt(pipe)} msg/CPU-s`, baseline: `JSON.parse ${fmt(parse)} msg/CPU-s`, ratio: `${fmt(pipe / parse, 2)}×` }],
        figures: { pipeline_msgs_per_s: pipe, json_parse_msgs_per_s: parse, ratio: pipe / parse },
      };
    },
  },
  {
    name: "encode",
    run: async () => {
      const rows: Row[] = [];
      const figures: Record<string, number> = {};
      for (const [i, shape] of SHAPES.entries()) {
        const e = await benchEncode(shape, now);
        const p = `shape${i + 1}_`;
        const pb = `protobufjs+snappy ${fmt(e.protobufjs)}`;
        rows.push(
          { bench: `encode steady flush (${e.shape})`, figure: `${fmt(e.steady)} samples/CPU-s`, baseline: pb, ratio: `${fmt(e.steady / e.protobufjs, 2)}×` },
          { bench: `  first flush (series new)`, figure: `${fmt(e.firstFlush)}`, baseline: pb, ratio: `${fmt(e.firstFlush / e.protobufjs, 2)}×` },
          { bench: `  steady vs protobufjs with grouping`, figure: `${fmt(e.steady)}`, baseline: `grouping+protobufjs+snappy ${fmt(e.protobufjsGrouping)}`, ratio: `${fmt(e.steady / e.protobufjsGrouping, 2)}×` },
          { bench: `  no snappy: steady vs protobufjs`, figure: `${fmt(e.steadyNoSnappy)}`, baseline: `protobufjs ${fmt(e.protobufjsNoSnappy)}`, ratio: `${fmt(e.steadyNoSnappy / e.protobufjsNoSnappy, 2)}×` },
        );
        Object.assign(figures, {
          [`${p}samples`]: e.samples,
          [`${p}steady_samples_per_cpu_s`]: e.steady,
          [`${p}first_flush_samples_per_cpu_s`]: e.firstFlush,
          [`${p}protobufjs_snappy_samples_per_cpu_s`]: e.protobufjs,
          [`${p}grouping_protobufjs_snappy_samples_per_cpu_s`]: e.protobufjsGrouping,
          [`${p}steady_no_snappy_samples_per_cpu_s`]: e.steadyNoSnappy,
          [`${p}protobufjs_no_snappy_samples_per_cpu_s`]: e.protobufjsNoSnappy,
          [`${p}steady_group_cpu_ms`]: e.steadyGroupMs,
          [`${p}steady_write_snappy_cpu_ms`]: e.steadyWriteMs,
          [`${p}ratio`]: e.steady / e.protobufjs,
          [`${p}first_flush_ratio`]: e.firstFlush / e.protobufjs,
          [`${p}grouping_ratio`]: e.steady / e.protobufjsGrouping,
          [`${p}no_snappy_ratio`]: e.steadyNoSnappy / e.protobufjsNoSnappy,
        });
      }
      return { rows, figures };
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
        const n = `${f.clients} devices × 20 in flight${DEVICES_NODELAY ? " (devices noDelay)" : ""}`;
        rows.push(
          {
            bench: `mqtt QoS 1, PUBACK after journal commit, ${n}`,
            figure: `${fmt(f.journal.rate)} msg/s`,
            baseline: `PUBACK before durability ${fmt(f.baseline.rate)} msg/s`,
            ratio: `${fmt(f.ratio, 2)}×`,
          },
          {
            bench: `PUBACK latency (median / p99), ${n}`,
            figure: `${fmt(f.journal.p50, 2)} / ${fmt(f.journal.p99, 2)} ms`,
            baseline: `${fmt(f.baseline.p50, 2)} / ${fmt(f.baseline.p99, 2)} ms`,
            ratio: `+${fmt(f.journal.p50 - f.baseline.p50, 2)} / +${fmt(f.journal.p99 - f.baseline.p99, 2)} ms`,
          },
          {
            bench: `  PUBACK latency of a probe device with 1 in flight beside the fleet (median / p99), ${n}`,
            figure: `${fmt(f.journal.probeP50, 2)} / ${fmt(f.journal.probeP99, 2)} ms`,
            baseline: `${fmt(f.baseline.probeP50, 2)} / ${fmt(f.baseline.probeP99, 2)} ms`,
            ratio: `+${fmt(f.journal.probeP50 - f.baseline.probeP50, 2)} / +${fmt(f.journal.probeP99 - f.baseline.probeP99, 2)} ms`,
          },
          {
            bench: `  same, journal committed on the main thread, ${n}`,
            figure: `${fmt(f.journalMain.rate)} msg/s`,
            baseline: `PUBACK before durability ${fmt(f.baseline.rate)} msg/s`,
            ratio: `${fmt(f.ratioMain, 2)}× (+${fmt(f.journalMain.p50 - f.baseline.p50, 1)} / +${fmt(f.journalMain.p99 - f.baseline.p99, 1)} ms)`,
          },
          {
            bench: `  main thread busy / CPU per message, ${n}`,
            figure: `journal ${fmt(f.journal.elu, 2)} / ${fmt(f.journal.cpuUs, 1)} µs`,
            baseline: `${fmt(f.baseline.elu, 2)} / ${fmt(f.baseline.cpuUs, 1)} µs`,
            ratio: `main-thread journal ${fmt(f.journalMain.elu, 2)} / ${fmt(f.journalMain.cpuUs, 1)} µs`,
          },
          {
            bench: `mqtt QoS 1 durable vs bare aedes, ${n}`,
            figure: `${fmt(f.journal.rate)} msg/s`,
            baseline: `bare aedes+JSON.parse QoS 1 ${fmt(f.bare.rate)} msg/s`,
            ratio: `${fmt(f.journal.rate / f.bare.rate, 2)}×`,
          },
        );
        const k = `c${f.clients}_${DEVICES_NODELAY ? "nodelay_" : ""}`;
        Object.assign(figures, {
          [`${k}journal_msgs_per_s`]: f.journal.rate,
          [`${k}ack_before_durable_msgs_per_s`]: f.baseline.rate,
          [`${k}bare_aedes_qos1_msgs_per_s`]: f.bare.rate,
          [`${k}ratio`]: f.ratio,
          [`${k}journal_probe_puback_p50_ms`]: f.journal.probeP50,
          [`${k}baseline_probe_puback_p50_ms`]: f.baseline.probeP50,
          [`${k}journal_main_thread_msgs_per_s`]: f.journalMain.rate,
          [`${k}journal_main_thread_ratio`]: f.ratioMain,
          [`${k}journal_event_loop_utilisation`]: f.journal.elu,
          [`${k}baseline_event_loop_utilisation`]: f.baseline.elu,
          [`${k}journal_main_thread_cpu_us_per_msg`]: f.journal.cpuUs,
          [`${k}baseline_main_thread_cpu_us_per_msg`]: f.baseline.cpuUs,
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
    name: "ingest",
    run: async () => {
      const total0 = Number(process.env.EDGEGATE_BENCH_INGEST_MESSAGES ?? 300_000);
      const q0 = await benchIngest(0, total0);
      const q1 = await benchIngest(1, Math.round(total0 / 5));
      const row = (qos: number, target: number, r: typeof q0) => ({
        bench: `ingest QoS ${qos} → default pipeline (target ≥ ${target}×)`,
        figure: `${fmt(r.gateway.msgsPerS)} msg/s, ${fmt(r.gateway.cpuMsPer100kSamples)} ms CPU/100k samples${r.gateway.lost ? `, ${r.gateway.lost} lost` : ""}${r.gateway.droppedSamples ? `, ${r.gateway.droppedSamples} samples dropped` : ""}`,
        baseline: `bare aedes+JSON.parse ${fmt(r.bare.msgsPerS)} msg/s, ${fmt(r.bare.cpuMsPer100kSamples)} ms CPU/100k${r.bare.lost ? `, ${r.bare.lost} lost` : ""}`,
        ratio: `${fmt(r.gateway.msgsPerS / r.bare.msgsPerS, 2)}×`,
      });
      const figures = (qos: number, r: typeof q0) => ({
        [`qos${qos}_gateway_msgs_per_s`]: r.gateway.msgsPerS,
        [`qos${qos}_bare_aedes_msgs_per_s`]: r.bare.msgsPerS,
        [`qos${qos}_ratio`]: r.gateway.msgsPerS / r.bare.msgsPerS,
        [`qos${qos}_gateway_cpu_ms_per_100k_samples`]: r.gateway.cpuMsPer100kSamples,
        [`qos${qos}_bare_aedes_cpu_ms_per_100k_samples`]: r.bare.cpuMsPer100kSamples,
        [`qos${qos}_gateway_lost_msgs`]: r.gateway.lost,
        [`qos${qos}_gateway_dropped_samples`]: r.gateway.droppedSamples,
      });
      // Whether the target fits in the box's 2 cores at all at the measured CPU costs (see cpuCeiling).
      const ceilingRow = (qos: number, target: number, r: typeof q0) => {
        const c = cpuCeiling(r, target);
        return {
          bench: `ingest QoS ${qos}: CPU ceiling on 2 cores (gateway + publishers)`,
          figure: `${fmt(c.ceilingRatio, 2)}× bare aedes at most, whatever the threading (gateway ${fmt(r.gateway.cpuMsPer100kSamples)} + publishers ${fmt(r.gateway.publisherCpuMsPer100kSamples)} ms CPU/100k samples)`,
          baseline: `${target}× would need the gateway at ≤ ${fmt(c.neededCpuMsPer100k)} ms CPU/100k (publishers ${fmt(r.bare.publisherCpuMsPer100kSamples)} ms/100k with bare aedes)`,
          ratio: `${fmt(c.ceilingRatio / target, 2)}× of target`,
        };
      };
      const ceilingFigures = (qos: number, target: number, r: typeof q0) => {
        const c = cpuCeiling(r, target);
        return {
          [`qos${qos}_cpu_ceiling_ratio`]: c.ceilingRatio,
          [`qos${qos}_needed_gateway_cpu_ms_per_100k_samples`]: c.neededCpuMsPer100k,
          [`qos${qos}_gateway_publisher_cpu_ms_per_100k_samples`]: r.gateway.publisherCpuMsPer100kSamples,
          [`qos${qos}_bare_publisher_cpu_ms_per_100k_samples`]: r.bare.publisherCpuMsPer100kSamples,
        };
      };
      return {
        rows: [row(0, 0.8, q0), ceilingRow(0, 0.8, q0), row(1, 0.7, q1), ceilingRow(1, 0.7, q1)],
        figures: { ...figures(0, q0), ...figures(1, q1), ...ceilingFigures(0, 0.8, q0), ...ceilingFigures(1, 0.7, q1) },
      };
    },
  },
  {
    name: "cardinality",
    run: async () => {
      const rows: Row[] = [];
      const figures: Record<string, number> = {};
      for (const n of [100_000, 500_000, 1_000_000]) {
        // Medians of 3 fresh processes per size (heap figures are stable; loop delays are not on shared cores).
        const runs: CardinalityResult[] = [];
        for (let k = 0; k < 3; k++) runs.push(await benchCardinality(n));
        const med = (f: (r: CardinalityResult) => number) => median(runs.map(f));
        const k = `${n / 1000}k`;
        figures[`heap_bytes_per_series_${k}`] = med((r) => r.heapBytesPerSeries);
        figures[`rss_bytes_per_series_${k}`] = med((r) => r.rssBytesPerSeries);
        figures[`max_loop_delay_ms_${k}`] = med((r) => r.maxLoopDelayMs);
        figures[`p99_loop_delay_ms_${k}`] = med((r) => r.p99LoopDelayMs);
        figures[`ingest_only_max_loop_delay_ms_${k}`] = med((r) => r.ingestOnlyMaxLoopDelayMs);
        figures[`flush_tick_ms_${k}`] = med((r) => r.flushTickMs);
        figures[`flush_tick_cpu_ms_${k}`] = med((r) => r.flushTickCpuMs);
        figures[`max_ingest_batch_ms_${k}`] = med((r) => r.maxBatchMs);
        figures[`checkpoint_ms_${k}`] = med((r) => r.checkpointMs);
        figures[`checkpoint_bytes_${k}`] = med((r) => r.checkpointBytes);
        figures[`checkpoint_json_ms_${k}`] = med((r) => r.checkpointJsonMs);
        figures[`checkpoint_json_bytes_${k}`] = med((r) => r.checkpointJsonBytes);
        figures[`checkpoint_offload_ms_${k}`] = med((r) => r.checkpointOffloadMs);
        figures[`checkpoint_offload_max_loop_delay_ms_${k}`] = med((r) => r.checkpointOffloadMaxLoopDelayMs);
        rows.push({
          bench: `cardinality ${k} series (target ≤ 300 B, ≤ 50 ms)`,
          figure: `${fmt(figures[`heap_bytes_per_series_${k}`]!)} B heap / ${fmt(figures[`rss_bytes_per_series_${k}`]!)} B RSS per series; flush tick ${fmt(figures[`flush_tick_ms_${k}`]!, 1)} ms; max loop delay ${fmt(figures[`max_loop_delay_ms_${k}`]!, 1)} ms`,
          baseline: `ingest only: max loop delay ${fmt(figures[`ingest_only_max_loop_delay_ms_${k}`]!, 1)} ms; checkpoint off the loop: max loop delay ${fmt(figures[`checkpoint_offload_max_loop_delay_ms_${k}`]!, 1)} ms (in the transaction ${fmt(figures[`checkpoint_ms_${k}`]!)} ms, as JSON text ${fmt(figures[`checkpoint_json_ms_${k}`]!)} ms)`,
          ratio: `${fmt(figures[`max_loop_delay_ms_${k}`]! / figures[`ingest_only_max_loop_delay_ms_${k}`]!, 2)}×`,
        });
      }
      return { rows, figures };
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
          { bench: "idle RSS 5 s after ready", figure: `${fmt(fp.gateway.rssMb, 1)} MB`, baseline: `bare node ${fmt(fp.bare.rssMb, 1)} MB`, ratio: `${fmt(fp.gateway.rssMb / fp.bare.rssMb, 2)}×` },
          { bench: "idle RSS, systemd unit's settings", figure: `${fmt(fp.shipped.rssMb, 1)} MB (ready ${fmt(fp.shipped.readyMs)} ms)`, baseline: opts, ratio: `${fmt(fp.shipped.rssMb / fp.bare.rssMb, 2)}×` },
          ...(fp.baseline === undefined
            ? []
            : [
                { bench: "idle RSS vs FOOTPRINT_BASELINE", figure: `${fmt(fp.gateway.rssMb, 1)} MB`, baseline: `${fmt(fp.baseline.gateway.rssMb, 1)} MB (ready ${fmt(fp.baseline.gateway.readyMs)} ms)`, ratio: `${fmt(fp.gateway.rssMb / fp.baseline.gateway.rssMb, 2)}×` },
                { bench: "  unit's settings vs FOOTPRINT_BASELINE", figure: `${fmt(fp.shipped.rssMb, 1)} MB`, baseline: `${fmt(fp.baseline.shipped.rssMb, 1)} MB (ready ${fmt(fp.baseline.shipped.readyMs)} ms)`, ratio: `${fmt(fp.shipped.rssMb / fp.baseline.shipped.rssMb, 2)}×` },
              ]),
          ...(Number.isNaN(fp.gateway.settledRssMb)
            ? []
            : [
                {
                  bench: "idle RSS settled (target ≤ 70 MB)",
                  figure: `${fmt(fp.gateway.settledRssMb, 1)} MB; unit's settings ${fmt(fp.shipped.settledRssMb, 1)} MB`,
                  baseline: fp.baseline === undefined ? `bare node ${fmt(fp.bare.settledRssMb, 1)} MB` : `baseline ${fmt(fp.baseline.gateway.settledRssMb, 1)} MB; unit's ${fmt(fp.baseline.shipped.settledRssMb, 1)} MB`,
                  ratio: `${fmt(fp.gateway.settledRssMb / (fp.baseline?.gateway.settledRssMb ?? fp.bare.settledRssMb), 2)}×`,
                },
              ]),
          {
            bench: "V8 heap used at the end (from /metrics)",
            figure: `${fmt(fp.gateway.heapUsedMb, 2)} MB; unit's settings ${fmt(fp.shipped.heapUsedMb, 2)} MB`,
            baseline: fp.baseline === undefined ? "" : `baseline ${fmt(fp.baseline.gateway.heapUsedMb, 2)} MB; unit's ${fmt(fp.baseline.shipped.heapUsedMb, 2)} MB`,
            ratio: fp.baseline === undefined ? "" : `${fmt(fp.gateway.heapUsedMb / fp.baseline.gateway.heapUsedMb, 2)}×`,
          },
        ],
        figures: {
          ready_ms: fp.gateway.readyMs,
          idle_rss_mb: fp.gateway.rssMb,
          shipped_ready_ms: fp.shipped.readyMs,
          shipped_idle_rss_mb: fp.shipped.rssMb,
          bare_node_ready_ms: fp.bare.readyMs,
          bare_node_rss_mb: fp.bare.rssMb,
          runs: fp.runs,
          settled_idle_rss_mb: fp.gateway.settledRssMb,
          shipped_settled_idle_rss_mb: fp.shipped.settledRssMb,
          bare_node_settled_rss_mb: fp.bare.settledRssMb,
          heap_used_mb: fp.gateway.heapUsedMb,
          shipped_heap_used_mb: fp.shipped.heapUsedMb,
          ...(fp.baseline === undefined
            ? {}
            : {
                baseline_ready_ms: fp.baseline.gateway.readyMs,
                baseline_idle_rss_mb: fp.baseline.gateway.rssMb,
                baseline_shipped_ready_ms: fp.baseline.shipped.readyMs,
                baseline_shipped_idle_rss_mb: fp.baseline.shipped.rssMb,
                baseline_settled_idle_rss_mb: fp.baseline.gateway.settledRssMb,
                baseline_shipped_settled_idle_rss_mb: fp.baseline.shipped.settledRssMb,
                baseline_heap_used_mb: fp.baseline.gateway.heapUsedMb,
                baseline_shipped_heap_used_mb: fp.baseline.shipped.heapUsedMb,
              }),
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
  { name: "flink-demo", run: flinkDemoSection },
  {
    name: "replay",
    run: async () => {
      const rp = await benchReplay();
      const runs = (xs: { seconds: number }[]) => xs.map((x) => `${fmt(x.seconds, 1)}`).join("/");
      return {
        rows: [
          {
            bench: `replay ${fmt(REPLAY_SAMPLES)} samples → fresh Prometheus`,
            figure: `${fmt(rp.edgegate)} samples/s (${runs(rp.edgegateRuns)} s)`,
            baseline: `vmagent ${fmt(rp.vmagent)} samples/s (${runs(rp.vmagentRuns)} s)`,
            ratio: `${fmt(rp.edgegate / rp.vmagent, 2)}×`,
          },
          {
            bench: "replay, timed from ready (start-up excluded)",
            figure: `${fmt(rp.edgegateFromReady)} samples/s (ready ${runs(rp.edgegateRuns.map((x) => ({ seconds: x.readySeconds })))} s)`,
            baseline: `vmagent ${fmt(rp.vmagentFromReady)} samples/s (ready ${runs(rp.vmagentRuns.map((x) => ({ seconds: x.readySeconds })))} s)`,
            ratio: `${fmt(rp.edgegateFromReady / rp.vmagentFromReady, 2)}×`,
          },
        ],
        figures: {
          edgegate_samples_per_s: rp.edgegate,
          vmagent_samples_per_s: rp.vmagent,
          ratio: rp.edgegate / rp.vmagent,
          edgegate_from_ready_samples_per_s: rp.edgegateFromReady,
          vmagent_from_ready_samples_per_s: rp.vmagentFromReady,
          ratio_from_ready: rp.edgegateFromReady / rp.vmagentFromReady,
          edgegate_median_s: REPLAY_SAMPLES / rp.edgegate,
          vmagent_median_s: REPLAY_SAMPLES / rp.vmagent,
          request_bodies: rp.requestBodies,
          edgegate_buffered_bytes: rp.bufferedBytes.edgegate,
          vmagent_buffered_bytes: rp.bufferedBytes.vmagent,
        },
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
const chosen = SECTIONS.filter((s) => wanted.length === 0 || wanted.includes(s.name));
if (chosen.some((s) => DIST_SECTIONS.has(s.name))) ensureDistBuilt();
const failed: Record<string, string> = {};
for (const section of chosen) {
  // One section that cannot run (a missing Debian package, a port the box refuses) must not
  // cost the figures of the others: it gets a row saying why, and the run exits 1 at the end.
  try {
    const result = await section.run();
    rows.push(...result.rows);
    (record.sections as Record<string, Record<string, number>>)[section.name] = result.figures;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    failed[section.name] = why;
    process.stderr.write(`bench section ${section.name} failed: ${err instanceof Error ? (err.stack ?? why) : why}\n`);
    rows.push({ bench: `${section.name}: FAILED`, figure: why.split("\n")[0]!.slice(0, 120), baseline: "—", ratio: "—" });
  }
}
if (Object.keys(failed).length > 0) record.failed = failed;

printTable(rows);
// The JSON record of this run (figures, commit, machine): bench/out/ is not committed;
// bench/RESULTS.md quotes the runs that matter.
const outDir = join(import.meta.dirname, "out");
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, `bench-${commit}-${Date.now()}.json`);
writeFileSync(outFile, JSON.stringify(record, null, 2) + "\n");
writeFileSync(join(outDir, "latest.json"), JSON.stringify(record, null, 2) + "\n");
process.stdout.write(`\nfigures written to ${outFile}\n`);
if (Object.keys(failed).length > 0) process.stderr.write(`failed section(s): ${Object.keys(failed).join(", ")}\n`);
process.exit(Object.keys(failed).length > 0 ? 1 : 0);
