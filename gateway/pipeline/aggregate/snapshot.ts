import type { Labels } from "../../prom/sample.js";
import { asArray, asNumber, asObject, asString, type Json, type SeriesCodec } from "./output.js";
import type { Rule } from "./rule.js";
import type { SeriesInterner, SeriesRef } from "./series.js";
import { Group, SeriesBuffer, Window } from "./window.js";

/**
 * The aggregation state as JSON, for checkpoints (gateway/recovery.ts):
 *
 *   {v: 1, rules: [{fp, flushedUntil, stale, outputs: [cross-window state per output],
 *     windows: [{start, end, samples, series: [labels...],
 *                groups: [[key, metric, labels, states | null, buffers | null]],
 *                stampIds, stampOffsets (or stamps: [[dedupId, [ts...]]...])}]}]}
 *
 * Series that an output state or a buffer refers to are written once per
 * window (a table of label sets) and referred to by index; after a restore
 * the window holds (reference-counts) only those. Immediate rules save each output's small state (`save`); buffered
 * rules save the raw samples of their window (`[seriesIndex, ts[], values[]]`).
 *
 * With `StampBlocks` (binary checkpoints, gateway/recovery-codec.ts) a
 * window's packed timestamps are not base64 in the JSON but a block of typed
 * arrays beside it: the window says `stampBlock: <index>`. The JSON left is
 * then O(groups), not O(input series).
 */
export const SNAPSHOT_VERSION = 1;

/** Where a binary checkpoint keeps the windows' timestamps (blocks beside the JSON, referred to by index). */
export interface StampBlocks {
  /** Writes `win`'s timestamps as a block: its index, or null when they do not pack (the window's JSON then holds rows). */
  write(win: Window): number | null;
  /** Loads block `index` into `win` (its `restored`); throws when there is no such block or it is damaged. */
  read(index: number, win: Window): void;
}

export interface RestoreReport {
  /** Rules whose state was restored. */
  rules: number;
  /** Open windows restored. */
  windows: number;
  /** One line per rule (or snapshot) that could not be restored, and why; those start empty. */
  discarded: string[];
}

function labelsOf(v: Json | undefined): Labels {
  const out: Labels = {};
  for (const [k, x] of Object.entries(asObject(v))) out[k] = asString(x);
  return out;
}

function saveWindow(rule: Rule, win: Window, blocks: StampBlocks | undefined): Json {
  const index = new Map<SeriesRef, number>();
  const table: Json[] = [];
  const codec: SeriesCodec = {
    ref(s) {
      let i = index.get(s);
      if (i === undefined) {
        i = table.length;
        index.set(s, i);
        table.push(s.labels);
      }
      return i;
    },
    deref() {
      throw new Error("not restoring");
    },
  };
  // Only series an output state or a buffer refers to are written (count_series, buffered rules):
  // writing every input series' labels made a 100,000-vehicle window's checkpoint 29 MB instead of 1.3 MB.
  const groups: Json[] = [];
  for (const g of win.groups.values()) {
    let states: Json = null;
    let buffers: Json = null;
    if (g.buffers !== null) {
      const rows: Json[] = [];
      for (const [s, buf] of g.buffers) rows.push([codec.ref(s), buf.ts, buf.values]);
      buffers = rows;
    } else {
      states = rule.outputs.map((o, i) => o.save!(g.states![i], codec));
    }
    groups.push([g.key, g.metric, g.labels, states, buffers]);
  }
  let stamps: { [key: string]: Json };
  if (blocks !== undefined) {
    const block = blocks.write(win);
    stamps = block !== null ? { stampBlock: block } : { stamps: win.stampRows() };
  } else {
    const packed = win.packStamps();
    stamps = packed !== null ? { stampIds: packed.ids, stampOffsets: packed.offsets } : { stamps: win.stampRows() };
  }
  return { start: win.start, end: win.end, samples: win.samples, series: table, groups, ...stamps };
}

/** The rules' state as JSON; with `blocks`, the windows' timestamps go there instead of into the JSON (binary checkpoints). */
export function snapshotRules(rules: readonly Rule[], blocks?: StampBlocks): Json {
  return {
    v: SNAPSHOT_VERSION,
    rules: rules.map((rule) => ({
      fp: rule.options.fingerprint,
      flushedUntil: Number.isFinite(rule.flushedUntil) ? rule.flushedUntil : null,
      stale: rule.stale.snapshot(),
      outputs: rule.outputs.map((o) => o.snapshot?.() ?? null),
      windows: [...rule.windows.values()].map((w) => saveWindow(rule, w, blocks)),
    })),
  };
}

function loadWindow(rule: Rule, data: Json, interner: SeriesInterner, blocks: StampBlocks | undefined): Window {
  const w = asObject(data);
  const win = new Window(rule.index, asNumber(w["start"]), asNumber(w["end"]));
  win.samples = asNumber(w["samples"]);
  if (w["stampBlock"] !== undefined) {
    if (blocks === undefined) throw new Error("checkpoint: a window refers to a timestamp block, and there are none");
    blocks.read(asNumber(w["stampBlock"]), win);
  } else if (w["stampIds"] !== undefined) win.unpackStamps(asString(w["stampIds"]), asString(w["stampOffsets"]));
  else {
    const restored = new Map<number, number[]>();
    for (const row of asArray(w["stamps"] ?? [])) {
      const [id, list] = asArray(row);
      restored.set(asNumber(id), asArray(list).map(asNumber));
    }
    if (restored.size > 0) win.restored = restored;
  }
  // Series an output state or a buffer refers to are members again (held); the others stay as their stamps.
  const table = asArray(w["series"]).map((l) => interner.intern(labelsOf(l)));
  for (const s of table) win.adopt(s);
  const codec: SeriesCodec = {
    ref() {
      throw new Error("not saving");
    },
    deref(i) {
      const s = table[i];
      if (s === undefined) throw new Error(`checkpoint: series index ${i} out of range`);
      return s;
    },
  };
  for (const row of asArray(w["groups"])) {
    const [key, metric, labels, states, buffers] = asArray(row);
    const g = new Group(asString(key), win.end, asString(metric), labelsOf(labels));
    if (rule.buffered) {
      g.buffers = new Map();
      for (const b of asArray(buffers ?? null)) {
        const [i, ts, values] = asArray(b);
        const buf = new SeriesBuffer();
        const tsList = asArray(ts).map(asNumber);
        const valueList = asArray(values).map(asNumber);
        for (let k = 0; k < tsList.length; k++) {
          buf.ts.push(tsList[k]!);
          buf.values.push(valueList[k]!);
          if (k > 0 && tsList[k]! < tsList[k - 1]!) buf.sorted = false;
        }
        g.buffers.set(codec.deref(asNumber(i)), buf);
      }
    } else {
      const list = asArray(states ?? null);
      g.states = rule.outputs.map((o, i) => o.load!(list[i] ?? null, g, codec));
    }
    win.groups.set(g.key, g);
  }
  return win;
}

function clearRule(rule: Rule, interner: SeriesInterner): void {
  for (const win of rule.windows.values()) {
    for (const s of win.members) {
      if (s.leave(win.id)) interner.release(s);
    }
  }
  rule.windows.clear();
  rule.lastWindow = null;
  rule.flushedUntil = -Infinity;
  rule.stale.restore([]);
  for (const o of rule.outputs) o.restore?.([]);
}

export function restoreRules(rules: readonly Rule[], data: Json, interner: SeriesInterner, blocks?: StampBlocks): RestoreReport {
  const report: RestoreReport = { rules: 0, windows: 0, discarded: [] };
  let saved: Json[];
  try {
    const top = asObject(data);
    if (top["v"] !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${JSON.stringify(top["v"])}, expected ${SNAPSHOT_VERSION}`);
    saved = asArray(top["rules"]);
  } catch (err) {
    report.discarded.push(`checkpoint not restored: ${(err as Error).message}`);
    return report;
  }
  // Matched by config fingerprint, not position: reordering rules keeps their state; a changed rule starts empty.
  const byFp = new Map<string, Json[]>();
  for (const r of saved) {
    const fp = String(asObject(r)["fp"]);
    byFp.set(fp, [...(byFp.get(fp) ?? []), r]);
  }
  for (const rule of rules) {
    const candidates = byFp.get(rule.options.fingerprint);
    const r = candidates?.shift();
    if (r === undefined) {
      report.discarded.push(`aggregation[${rule.index}]: no saved state for this rule's config (new or changed rule)`);
      continue;
    }
    try {
      const o = asObject(r);
      rule.flushedUntil = o["flushedUntil"] === null ? -Infinity : asNumber(o["flushedUntil"]);
      rule.stale.restore(o["stale"] ?? []);
      const outputs = asArray(o["outputs"]);
      rule.outputs.forEach((out, i) => {
        const d = outputs[i];
        if (out.restore && d !== undefined && d !== null) out.restore(d);
      });
      for (const w of asArray(o["windows"])) {
        const win = loadWindow(rule, w, interner, blocks);
        rule.windows.set(win.start, win);
        report.windows++;
      }
      report.rules++;
    } catch (err) {
      clearRule(rule, interner);
      report.discarded.push(`aggregation[${rule.index}]: ${(err as Error).message}`);
    }
  }
  return report;
}
