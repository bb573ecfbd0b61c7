import type { AggregationRuleConfig } from "../../config/schema.js";
import type { Sample } from "../sample.js";
import type { Stage } from "../stage.js";
import { compileRule, type Rule } from "./rule.js";
import { SeriesInterner, type SeriesRef } from "./series.js";
import { Group, SampleEmitter, Window, emitWindow } from "./window.js";

export interface AggregateStageOptions {
  rules: AggregationRuleConfig[];
  /** Forward samples matched by no rule unchanged (config `forward_unmatched`); else drop them silently. */
  forwardUnmatched: boolean;
  /**
   * Counts samples lost by this stage, by reason: `too_late`, or
   * `invalid_timestamp` (a non-finite timestamp). Called at most once per
   * reason per batch.
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
 *   outputs are emitted by `flush`, stamped with the window end.
 * - A sample whose window is already closed (or was already flushed) is
 *   dropped and counted as `too_late`, never merged into another window. It is
 *   counted once per rule that had to drop it.
 * - NaN values (stale markers) are ignored by aggregation and not forwarded.
 */
export class AggregateStage implements Stage {
  readonly name = "aggregate";
  private readonly rules: Rule[];
  private readonly forwardUnmatched: boolean;
  private readonly onDrop: (reason: string, samples: number) => void;
  private readonly interner = new SeriesInterner();
  private readonly emitter = new SampleEmitter();

  constructor(opts: AggregateStageOptions) {
    this.rules = opts.rules.map(compileRule);
    this.forwardUnmatched = opts.forwardUnmatched;
    this.onDrop = opts.onDrop;
  }

  process(batch: Sample[], nowMs: number): Sample[] {
    const forwarded: Sample[] = [];
    const rules = this.rules;
    let tooLate = 0;
    let badTime = 0;
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
        this.absorb(rule, win, series, value, sample.timestamp);
      }
      if (!matched && this.forwardUnmatched) forwarded.push(sample);
    }
    if (tooLate > 0) this.onDrop("too_late", tooLate);
    if (badTime > 0) this.onDrop("invalid_timestamp", badTime);
    return forwarded;
  }

  /** The window of `rule` that `ts` belongs to, opened if needed; null if that window is closed. */
  private openWindow(rule: Rule, ts: number, nowMs: number): Window | null {
    const interval = rule.intervalMs;
    const start = Math.floor(ts / interval) * interval;
    const last = rule.lastWindow; // most samples go to the current window
    if (last !== null && last.start === start && last.end + rule.latenessMs > nowMs) return last;
    const end = start + interval;
    if (end + rule.latenessMs <= nowMs || end <= rule.flushedUntil) return null;
    let win = rule.windows.get(start);
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
    const groupKey = (series.groupKeys[rule.index] ??= rule.grouping.key(series.labels));
    let group = win.groups.get(groupKey);
    const outputs = rule.outputs;
    if (group === undefined) {
      const states: unknown[] = new Array(outputs.length);
      for (let o = 0; o < outputs.length; o++) states[o] = outputs[o]!.init();
      group = new Group(series.labels["__name__"] ?? "", rule.grouping.labels(series.labels), states);
      win.groups.set(groupKey, group);
    }
    for (let o = 0; o < outputs.length; o++) outputs[o]!.update(group.states[o], value, ts, series);
  }

  flush(nowMs: number, final: boolean): Sample[] {
    const due: Window[] = [];
    for (const rule of this.rules) {
      for (const win of rule.windows.values()) {
        if (final || win.end + rule.latenessMs <= nowMs) due.push(win);
      }
    }
    if (due.length === 0) return [];
    // Older windows first, across rules too, so every output series is emitted in time order
    // (Remote-Write 1.0: samples of one series MUST be sent in timestamp order).
    due.sort((a, b) => a.end - b.end || a.rule - b.rule);

    const out: Sample[] = [];
    for (const win of due) {
      const rule = this.rules[win.rule]!;
      emitWindow(win, rule.outputs, rule.suffixes, this.emitter, out);
      rule.windows.delete(win.start);
      if (rule.lastWindow === win) rule.lastWindow = null;
      if (win.end > rule.flushedUntil) rule.flushedUntil = win.end;
      for (const series of win.series) if (--series.windows === 0) this.interner.release(series);
    }
    this.emitter.aim([], "", {}, 0); // do not keep the last batch reachable
    return out;
  }

  stats(): { windowsOpen: number; seriesActive: number } {
    let windowsOpen = 0;
    for (const rule of this.rules) windowsOpen += rule.windows.size;
    return { windowsOpen, seriesActive: this.interner.size };
  }
}
