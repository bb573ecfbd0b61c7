import type { AggregationRuleConfig } from "../../config/schema.js";
import type { Sample } from "../../prom/sample.js";
import type { Stage } from "../stage.js";
import type { Json } from "./output.js";
import { compileRule, type Rule } from "./rule.js";
import { SeriesInterner, type SeriesRef } from "./series.js";
import { restoreRules, snapshotRules, type RestoreReport, type StampBlocks } from "./snapshot.js";
import { Admit, Group, SampleEmitter, SeriesBuffer, Window, emitWindow } from "./window.js";
import type { DropFn } from "../../metrics/drop-reasons.js";

/** Members of flushed windows released per sample of an ingest batch, and at least per batch (see AggregateStage.releasing). */
const RELEASE_PER_SAMPLE = 4;
const RELEASE_MIN = 1024;
/** Per tick: at most this many members, and for at most this long (ms). */
const RELEASE_PER_TICK = 1 << 20;
const RELEASE_TICK_MS = 10;

export interface AggregateStageOptions {
  /** Rules as the config schema outputs them (validated, defaults applied). */
  rules: AggregationRuleConfig[];
  /** Forward samples matched by no rule unchanged (config `forward_unmatched`); else drop them, counted as reason="unmatched". */
  forwardUnmatched: boolean;
  /**
   * Counts samples lost by this stage, by reason: `too_late`, `unmatched`
   * (matched by no rule, with forward_unmatched: false),
   * `invalid_timestamp` (a non-finite timestamp), or `shutdown_unflushed`
   * (open windows of a rule with flush_on_shutdown: false, at shutdown), or
   * `output_relabel_drop` (output series dropped by output_relabel_configs).
   */
  onDrop: DropFn;
  /** Most windows open at once, all rules together; a sample that would open one more is dropped (reason="window_limit"). 0/absent = no limit. */
  maxOpenWindows?: number;
  /** Most groups in open windows, all rules together; a sample that would start one more is dropped (reason="group_limit"). 0/absent = no limit. */
  maxGroups?: number;
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
  private readonly onDrop: DropFn;
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
  /**
   * Per rule, its flushed frontier when the gateway resumed: windows after it
   * that had no sample yet also get the restart's grace (devices could not
   * send them while the gateway was down). -Infinity on a first start.
   */
  private graceFrom: number[] = [];
  private readonly maxOpenWindows: number;
  private readonly maxGroups: number;
  /** Open windows and their groups, all rules (kept against the limits above). */
  private openWindows = 0;
  private openGroups = 0;
  /**
   * Flushed windows whose input series still hold a reference count, with
   * the index of the next member to release. Released a bounded number per
   * call (ingest batch or tick) instead of all at the flush: releasing a
   * million-series window in one go stalled the event loop for ~90 ms.
   */
  private readonly releasing: { win: Window; next: number }[] = [];

  constructor(opts: AggregateStageOptions) {
    this.rules = opts.rules.map(compileRule);
    this.forwardUnmatched = opts.forwardUnmatched;
    this.onDrop = opts.onDrop;
    this.maxOpenWindows = opts.maxOpenWindows ?? 0;
    this.maxGroups = opts.maxGroups ?? 0;
  }

  process(batch: Sample[], nowMs: number): Sample[] {
    if (this.releasing.length > 0) this.releaseSome(RELEASE_PER_SAMPLE * batch.length + RELEASE_MIN, Infinity);
    const forwarded: Sample[] = [];
    const rules = this.rules;
    let tooLate = 0;
    let duplicates = 0;
    let badTime = 0;
    let unmatched = 0;
    let windowLimit = 0;
    let groupLimit = 0;
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
        if (win === undefined) {
          windowLimit++;
          continue;
        }
        series ??= this.interner.intern(sample.labels, i);
        let groupKey = series.groupKey(rule.index);
        let group: Group | undefined;
        if (groupKey === undefined) {
          groupKey = rule.grouping.key(series.labels);
          group = win.groups.get(groupKey);
          // Every series of a group keeps the group's own key string, not a copy per series.
          if (group !== undefined) groupKey = group.key;
          series.setGroupKey(rule.index, groupKey);
        } else group = win.groups.get(groupKey);
        if (group === undefined && this.maxGroups > 0 && this.openGroups >= this.maxGroups) {
          if (win.samples === 0 && win.groups.size === 0) this.dropEmpty(rule, win);
          groupLimit++;
          continue;
        }
        // Same series and timestamp as a sample already in this window: a duplicate (a device's
        // re-send after a lost PUBACK, or a journal replay), counted once as Prometheus would store it once.
        const admitted = win.admit(series, sample.timestamp);
        if (admitted === Admit.Duplicate) {
          duplicates++;
          continue;
        }
        this.absorb(rule, win, group, groupKey, series, value, sample.timestamp, admitted === Admit.New);
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
    if (windowLimit > 0) this.onDrop("window_limit", windowLimit);
    if (groupLimit > 0) this.onDrop("group_limit", groupLimit);
    return forwarded;
  }

  /** The window of `rule` that `ts` belongs to, opened if needed; null if that window is closed, undefined if max_open_windows is reached. */
  private openWindow(rule: Rule, ts: number, nowMs: number): Window | null | undefined {
    const interval = rule.intervalMs;
    const start = Math.floor(ts / interval) * interval;
    const last = rule.lastWindow; // most samples go to the current window
    const resumed = this.resumedAtMs;
    if (last !== null && last.start === start && Math.max(last.end, resumed) + rule.latenessMs > nowMs) return last;
    const end = start + interval;
    let win = rule.windows.get(start);
    // The restart's grace is for windows the devices could not complete while the gateway was down:
    // the open ones (restored or replayed), and those after the frontier restored at the restart
    // that had no sample yet (all of theirs were unacknowledged at the crash, so sent again now).
    // On a first start there is no frontier: a window not open yet follows the plain rule, so an
    // old backlog is not let in by the start itself.
    const from = this.graceFrom[rule.index] ?? -Infinity;
    const graced = win !== undefined || (from > -Infinity && end > from);
    if ((graced ? Math.max(end, resumed) : end) + rule.latenessMs <= nowMs || end <= rule.flushedUntil) return null;
    if (win === undefined) {
      if (this.maxOpenWindows > 0 && this.openWindows >= this.maxOpenWindows) return undefined;
      win = new Window(rule.index, start, end);
      rule.windows.set(start, win);
      this.openWindows++;
    }
    rule.lastWindow = win;
    return win;
  }

  /** Adds a sample to its group in `win` (created when `group` is undefined; the caller checked max_groups). */
  private absorb(rule: Rule, win: Window, group: Group | undefined, groupKey: string, series: SeriesRef, value: number, ts: number, fresh: boolean): void {
    win.samples++;
    const outputs = rule.outputs;
    if (group === undefined) {
      this.openGroups++;
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
    for (let o = 0; o < outputs.length; o++) outputs[o]!.update(states[o], value, ts, series, fresh);
  }

  /** Forgets a window opened for a sample that was then refused (it holds nothing). */
  private dropEmpty(rule: Rule, win: Window): void {
    rule.windows.delete(win.start);
    if (rule.lastWindow === win) rule.lastWindow = null;
    this.openWindows--;
  }

  /** Wall-clock ms at which the next open window closes (Infinity: none open), for the gateway's tick timer. */
  nextDueMs(): number {
    let due = Infinity;
    for (const rule of this.rules) {
      for (const win of rule.windows.values()) {
        const at = Math.max(win.end, this.resumedAtMs) + rule.latenessMs;
        if (at < due) due = at;
      }
    }
    return due;
  }

  /**
   * The latest wall-clock ms ≤ `nowMs` at which an open window closes (-Infinity: none is due): a
   * tick at `nowMs` closes every due window once the messages that arrived before it are processed.
   */
  lastDueMs(nowMs: number): number {
    let last = -Infinity;
    for (const rule of this.rules) {
      for (const win of rule.windows.values()) {
        const at = Math.max(win.end, this.resumedAtMs) + rule.latenessMs;
        if (at <= nowMs && at > last) last = at;
      }
    }
    return last;
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
    if (this.releasing.length > 0) this.releaseSome(final ? Infinity : RELEASE_PER_TICK, final ? Infinity : performance.now() + RELEASE_TICK_MS);
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
    this.openWindows--;
    this.openGroups -= win.groups.size;
    rule.windows.delete(win.start);
    if (rule.lastWindow === win) rule.lastWindow = null;
    if (win.end > rule.flushedUntil) rule.flushedUntil = win.end;
    if (win.members.length > 0) this.releasing.push({ win, next: 0 });
    this.flushedWindows++;
  }

  /** Releases the members of flushed windows: at most `budget` of them, and (checked every 1,024) not past `deadline` (performance.now()). */
  private releaseSome(budget: number, deadline: number): void {
    const interner = this.interner;
    let done = 0;
    while (this.releasing.length > 0 && done < budget) {
      const job = this.releasing[0]!;
      const { win } = job;
      const members = win.members;
      const stop = Math.min(members.length, job.next + (budget - done));
      let i = job.next;
      for (; i < stop; i++) {
        const series = members[i]!;
        if (series.leave(win.id)) interner.release(series);
        if ((i & 1023) === 1023 && performance.now() > deadline) {
          i++;
          break;
        }
      }
      done += i - job.next;
      job.next = i;
      if (i < members.length) {
        if (deadline !== Infinity && performance.now() > deadline) break;
        continue;
      }
      win.members = [];
      this.releasing.shift();
    }
  }

  /** The gateway (re)started accepting at `ms` (see resumedAtMs); also replayed from the journal. */
  resume(ms: number): void {
    this.resumedAtMs = ms;
    this.graceFrom = this.rules.map((r) => r.flushedUntil);
  }

  /**
   * Config reload: emits now the open windows of the rules whose fingerprint
   * is not in `kept` (removed or changed rules, whose state the new config's
   * stage does not take over), so what they aggregated so far is not lost.
   */
  flushRetired(kept: ReadonlySet<string>): Sample[] {
    const due: Window[] = [];
    for (const rule of this.rules) if (!kept.has(rule.options.fingerprint)) due.push(...rule.windows.values());
    due.sort((a, b) => a.end - b.end || a.rule - b.rule);
    const out: Sample[] = [];
    for (const win of due) {
      const rule = this.rules[win.rule]!;
      emitWindow(win, rule, this.emitter, out);
      this.release(rule, win);
    }
    this.emitter.aim([], "", {}, 0);
    const relabelDropped = this.emitter.takeDropped();
    if (relabelDropped > 0) this.onDrop("output_relabel_drop", relabelDropped);
    return out;
  }

  /** Fingerprints of this stage's rules (a rule's config identity: reload keeps the state of an unchanged rule). */
  fingerprints(): string[] {
    return this.rules.map((r) => r.options.fingerprint);
  }

  /**
   * Open windows, cross-window output state, flushed-window watermarks and
   * stale tracking, as JSON (checkpoints). With `blocks`, the windows'
   * timestamps (O(input series)) are handed there as typed arrays and the
   * JSON only refers to them (binary checkpoints, gateway/recovery-codec.ts).
   */
  snapshot(blocks?: StampBlocks): Json {
    return snapshotRules(this.rules, blocks);
  }

  /**
   * Loads a snapshot taken by `snapshot()` into a fresh stage. A rule whose
   * config changed since (fingerprint) starts empty; so does every rule if
   * the snapshot cannot be read. Throws nothing: the report says what happened.
   */
  restore(data: Json, blocks?: StampBlocks): RestoreReport {
    const report = restoreRules(this.rules, data, this.interner, blocks);
    this.openWindows = 0;
    this.openGroups = 0;
    for (const rule of this.rules) {
      this.openWindows += rule.windows.size;
      for (const win of rule.windows.values()) this.openGroups += win.groups.size;
    }
    return report;
  }

  /**
   * Discards restored state beyond `limitMs` (now + the allowed clock skew):
   * open windows starting after it, and a flushed-window watermark after it,
   * which would otherwise refuse every later sample as too_late (issue 10:
   * one year-3000 sample, a restart, and 47/47 later samples were dropped).
   */
  clampFuture(limitMs: number): { rules: number; windows: number; samples: number } {
    let rules = 0;
    let windows = 0;
    let samples = 0;
    for (const rule of this.rules) {
      let touched = false;
      for (const win of [...rule.windows.values()]) {
        if (win.start <= limitMs) continue;
        windows++;
        samples += win.samples;
        rule.windows.delete(win.start);
        this.openWindows--;
        this.openGroups -= win.groups.size;
        if (rule.lastWindow === win) rule.lastWindow = null;
        for (const series of win.members) {
          if (series.leave(win.id)) this.interner.release(series);
        }
        touched = true;
      }
      if (rule.flushedUntil > limitMs) {
        // Back to the end of the last window that can have closed by now.
        rule.flushedUntil = Math.floor(limitMs / rule.intervalMs) * rule.intervalMs;
        touched = true;
      }
      if (rule.stale.clampFuture(limitMs)) touched = true;
      if (touched) rules++;
    }
    return { rules, windows, samples };
  }

  /** Groups in open windows, all rules (bounded by maxGroups). */
  groupsOpen(): number {
    return this.openGroups;
  }

  /** `seriesActive`: input series held, by open windows and by flushed windows not yet fully released (see releasing). */
  stats(): { windowsOpen: number; seriesActive: number } {
    let windowsOpen = 0;
    for (const rule of this.rules) windowsOpen += rule.windows.size;
    return { windowsOpen, seriesActive: this.interner.size };
  }
}
