import { asArray, asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/**
 * `stddev` and `stdvar`: POPULATION standard deviation / variance of the
 * samples in the window (divided by n, as vmagent's stddev.go/stdvar.go and
 * PromQL's stddev_over_time), with Welford's online update, which stays
 * accurate where sum-of-squares cancels catastrophically.
 */
class StdState {
  count = 0;
  avg = 0;
  q = 0;
}

function update(s: StdState, value: number): void {
  s.count++;
  const avg = s.avg + (value - s.avg) / s.count;
  s.q += (value - s.avg) * (value - avg);
  s.avg = avg;
}

function save(s: StdState): Json {
  return [s.count, s.avg, s.q];
}

function load(data: Json): StdState {
  const [count, avg, q] = asArray(data);
  const s = new StdState();
  s.count = asNumber(count);
  s.avg = asNumber(avg);
  s.q = asNumber(q);
  return s;
}

export const stdvar: AggregationOutput<StdState> = {
  name: "stdvar",
  init: () => new StdState(),
  update,
  flush(s: StdState, out: OutputEmitter): void {
    out.emit(s.q / s.count);
  },
  save,
  load,
};

export const stddev: AggregationOutput<StdState> = {
  name: "stddev",
  init: () => new StdState(),
  update,
  flush(s: StdState, out: OutputEmitter): void {
    out.emit(Math.sqrt(s.q / s.count));
  },
  save,
  load,
};
