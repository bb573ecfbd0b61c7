import type { AggregationRuleInput } from "../../config/schema-pipeline.js";
import type { Sample } from "../sample.js";
import type { Stage } from "../stage.js";
import type { Json } from "./output.js";
import { compileRule, type Rule } from "./rule.js";
import { SeriesInterner, type SeriesRef } from "./series.js";
import { restoreRules, snapshotRules, type RestoreReport } from "./snapshot.js";
import { Group, SampleEmitter, SeriesBuffer, Window, emitWindow } from "./window.js";

export interface AggregateStageOptions {
  rules: AggregationRuleInput[];
  /** Forward samples matched by no rule unchanged (config `forward_unmatched`); else drop them, counted as reason="unmatched". */
  forwardUnmatched: boolean;
  /**
   * Counts samples lost by this stage, by reason: `too_late`, `unmatched`
   * (matched by no rule, with forward_unmatched: false),
   * `invalid_timestamp` (a non-finite timestamp), or `shutdown_unflushed`
   * (open windows of a rule with flush_on_shutdown: false, at shutdown), or
   * `output_relabel_drop` (output series dropped by output_relabel_configs).
   */
  onDrop: (reason: string, samples: number) => void;
}

/**
 * Stream aggregation in EVENT time (vmagent's stream aggregation uses arrival
 * time, so a device replaying a backlog lands in the wrong window: vmagent
 * issues #4068, #9778, #11102).
 *
 * - A sample with timestamp `ts` belongs to the window `[start, start + interval)`,
 *   `start = floor(ts / interval) * interval` (aligned to the Unix epoch).
 * - A window closes when the wall clock reaches `end + allowed_lateness`; its
 *   outputs are emitted by `flush`, stamped with the window end, and go to
 *   the outbox. Until then a late sample simply joins it.
 * - A flushed window is never reopened: a sample whose window was already
 *   flushed is dropped and counted as `too_late`, never merged into another
 *   window, and no "correction" is sent — it would be a second sample at the
 *   window end's timestamp with another value, which Remote-Write receivers
 *   reject (Prometheus: 400 duplicate sample). It is counted once per rule
 *   that had to drop it.
 * - NaN values (stale markers) are ignored by aggregation and not forwarded.
 * - Output series that stop get a stale marker (staleness.ts).
 */
export class AggregateStage implements Stage {
  readonly name = "aggregate";
  private readonly rules: Rule[];
  private readonly forwardUnmatched: boolean;
  private readonly onDrop: (reason: string, samples: number) => void;
  private readonly interner = new SeriesInterner();
  private readonly emitter = new SampleEmitter();
  /** Windows flushed (or dropped) so far: the gateway checkpoints after a tick that flushed any. */
  flushedWindows = 0;
  /** Stale markers emitted so far. */
  staleMarkers = 0;
  /**
   * When this run (or the run a replayed journal entry belongs to) began
   * accepting connections. A window closes at max(end, resumedAt) +
   * allowed_lateness: devices could not send while the gateway was down, so
   * a restart gives open windows their allowed lateness again.
   */
  private resumedAtMs = -Infinity;

  constructor(opts: AggregateStageOptions) {
    this.rules = opts.rules.map(compileRule);
    this.forwardUnmatched = opts.forwardUnmatched;
    this.onDrop = opts.onDrop;
  }

  process(batch: Sample[], nowMs: number): Sample[] {
    const forwarded: Sample[] = [];
    const rules = this.rules;
    let tooLate = 0;
    let duplicates = 0;
    let badTime = 0;
    let unmatched = 0;
    for (let i = 0; i < batch.length; i++) {
      const sample = batch[i]!;
      const value = sample.value;
      let matched = false;
      let series: SeriesRef | null = null; // interned on first use: at most once per sample
      for (let r = 0; r < rules.length; r++) {
        const rule = rules[r]!;
        if (!rule.matcher(sample.labels)) continue;
        matched = true;
        if (value !== value) continue; // NaN: stale marker, ignored by aggregation
        if (!Number.isFinite(sample.timestamp)) {
          badTime++; // would open a window at NaN: decoders should never let this through
          continue;
        }
        const win = this.openWindow(rule, sample.timestamp, nowMs);
        if (win === null) {
          tooLate++;
          continue;
        }
        series ??= this.interner.intern(sample.labels);
        // Same series and timestamp as a sample already in this window: a duplicate (a device's
        // re-send after a lost PUBACK, or a journal replay), counted once as Prometheus would store it once.
        if (!win.admit(series.dedupId, sample.timestamp)) {
          duplicates++;
          continue;
        }
        this.absorb(rule, win, series, value, sample.timestamp);
      }
      if (!matched) {
        if (this.forwardUnmatched) forwarded.push(sample);
        else unmatched++;
      }
    }
    if (tooLate > 0) this.onDrop("too_late", tooLate);
    if (duplicates > 0) this.onDrop("duplicate", duplicates);
    if (badTime > 0) this.onDrop("invalid_timestamp", badTime);
    if (unmatched > 0) this.onDrop("unmatched", unmatched);
    return forwarded;
  }

  /** The window of `rule` that `ts` belongs to, opened if needed; null if that window is closed. */
  private openWindow(rule: Rule, ts: number, nowMs: number): Window | null {
    const interval = rule.intervalMs;
    const start = Math.floor(ts / interval) * interval;
    const last = rule.lastWindow; // most samples go to the current window
    const resumed = this.resumedAtMs;
    if (last !== null && last.start === start && Math.max(last.end, resumed) + rule.latenessMs > nowMs) return last;
    const end = start + interval;
    let win = rule.windows.get(start);
    // The restart's grace is for windows that were open (restored or replayed); a window not open
    // yet follows the plain rule.
    if ((win === undefined ? end : Math.max(end, resumed)) + rule.latenessMs <= nowMs || end <= rule.flushedUntil) return null;
    if (win === undefined) {
      win = new Window(rule.index, start, end);
      rule.windows.set(start, win);
    }
    rule.lastWindow = win;
    return win;
  }

  private absorb(rule: Rule, win: Window, series: SeriesRef, value: number, ts: number): void {
    if (!win.series.has(series)) {
      win.series.add(series);
      series.windows++;
    }
    win.samples++;
    const groupKey = (series.groupKeys[rule.index] ??= rule.grouping.key(series.labels));
    let group = win.groups.get(groupKey);
    const outputs = rule.outputs;
    if (group === undefined) {
      group = new Group(groupKey, win.end, series.labels["__name__"] ?? "", rule.grouping.labels(series.labels));
      if (rule.buffered) group.buffers = new Map();
      else {
        const states: unknown[] = new Array(outputs.length);
        for (let o = 0; o < outputs.length; o++) states[o] = outputs[o]!.init(group);
        group.states = states;
      }
      win.groups.set(groupKey, group);
    }
    if (group.buffers !== null) {
      let buf = group.buffers.get(series);
      if (buf === undefined) {
        buf = new SeriesBuffer();
        group.buffers.set(series, buf);
      }
      buf.add(ts, value, rule.options.dedupMs);
      return;
    }
    const states = group.states!;
    for (let o = 0; o < outputs.length; o++) outputs[o]!.update(states[o], value, ts, series);
  }

  flush(nowMs: number, final: boolean): Sample[] {
    const due: Window[] = [];
    for (const rule of this.rules) {
      for (const win of rule.windows.values()) {
        if (final || Math.max(win.end, this.resumedAtMs) + rule.latenessMs <= nowMs) due.push(win);
      }
    }
    // Older windows first, across rules too, so every output series is emitted in time order
    // (Remote-Write 1.0: samples of one series MUST be sent in timestamp order).
    due.sort((a, b) => a.end - b.end || a.rule - b.rule);

    const out: Sample[] = [];
    let unflushed = 0;
    for (const win of due) {
      const rule = this.rules[win.rule]!;
      if (final && !rule.options.flushOnShutdown) unflushed += win.samples;
      else emitWindow(win, rule, this.emitter, out);
      this.release(rule, win);
    }
    this.emitter.aim([], "", {}, 0); // do not keep the last batch reachable
    if (unflushed > 0) this.onDrop("shutdown_unflushed", unflushed);
    const relabelDropped = this.emitter.takeDropped();
    if (relabelDropped > 0) this.onDrop("output_relabel_drop", relabelDropped);
    // Staleness runs on the event-time frontier (every window ending before it is closed);
    // not at shutdown: the series go on after a restart.
    if (!final) {
      for (const rule of this.rules) {
        // During a restart's grace (windows ending before resumedAt close at resumedAt + lateness),
        // only what was already flushed is closed for good: a stale marker stamped later than a
        // window still to come would put that window out of order.
        const frontier = nowMs - rule.latenessMs >= this.resumedAtMs ? nowMs - rule.latenessMs : Math.min(nowMs - rule.latenessMs, rule.flushedUntil);
        this.staleMarkers += rule.stale.sweep(frontier, rule.options.stalenessMs, out);
        for (const o of rule.outputs) o.expire?.(frontier - rule.options.stalenessMs);
      }
    }
    return out;
  }

  private release(rule: Rule, win: Window): void {
    rule.windows.delete(win.start);
    if (rule.lastWindow === win) rule.lastWindow = null;
    if (win.end > rule.flushedUntil) rule.flushedUntil = win.end;
    for (const series of win.series) if (--series.windows === 0) this.interner.release(series);
    this.flushedWindows++;
  }

  /** The gateway (re)started accepting at `ms` (see resumedAtMs); also replayed from the journal. */
  resume(ms: number): void {
    this.resumedAtMs = ms;
  }

  /** Open windows, cross-window output state, flushed-window watermarks and stale tracking, as JSON (checkpoints). */
  snapshot(): Json {
    return snapshotRules(this.rules);
  }

  /**
   * Loads a snapshot taken by `snapshot()` into a fresh stage. A rule whose
   * config changed since (fingerprint) starts empty; so does every rule if
   * the snapshot cannot be read. Throws nothing: the report says what happened.
   */
  restore(data: Json): RestoreReport {
    return restoreRules(this.rules, data, this.interner);
  }

  stats(): { windowsOpen: number; seriesActive: number } {
    let windowsOpen = 0;
    for (const rule of this.rules) windowsOpen += rule.windows.size;
    return { windowsOpen, seriesActive: this.interner.size };
  }
}
