import { describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import { TickTimer } from "../../gateway/tick-timer.js";

/** Advances the mocked clock a millisecond at a time (one big step runs every timer at the end time). */
function advance(ms: number): void {
  for (let i = 0; i < ms; i++) mock.timers.tick(1);
}

describe("pipeline tick timer", () => {
  it("ticks every period, and once more when the next window closes between two periodic ticks", (t) => {
    mock.timers.enable({ apis: ["setInterval", "setTimeout", "Date"], now: 0 });
    t.after(() => mock.timers.reset());
    const ticks: number[] = [];
    let due = 2_350; // a window closing at 2.35 s (end + allowed_lateness)
    let closes = true;
    const timer = new TickTimer(
      1000,
      () => {
        ticks.push(Date.now());
        if (closes && Date.now() >= due) due = Infinity; // the tick flushed the window
      },
      () => due,
    );
    timer.start();
    advance(2_000);
    assert.deepEqual(ticks, [1000, 2000]);
    advance(400);
    assert.deepEqual(ticks, [1000, 2000, 2351], "the close is not left to the 3 s tick");
    // A window the tick could not close (the clock held at a message waiting for its commit):
    // tried again after 5, 10, 20, 40, 80, 160 ms, then left to the periodic ticks (no retry storm).
    closes = false;
    due = 3_200;
    advance(1_200);
    assert.deepEqual(ticks, [1000, 2000, 2351, 3000, 3201, 3206, 3216, 3236, 3276, 3356, 3516], "the due tick, six retries, then only the periodic ones");
    advance(1_000);
    assert.deepEqual(ticks.slice(11), [4000]);
    closes = true;
    due = Infinity; // nothing open
    due = 5_500;
    advance(1_600);
    assert.deepEqual(ticks.slice(12), [5000, 5501, 6000]);
    timer.stop();
    advance(5_000);
    assert.equal(ticks.length, 15, "stopped: no more ticks");
  });

  it("a window held open at its due tick closes at a retry milliseconds later, not at the next periodic tick", (t) => {
    mock.timers.enable({ apis: ["setInterval", "setTimeout", "Date"], now: 0 });
    t.after(() => mock.timers.reset());
    const ticks: number[] = [];
    let due = 1_400;
    const clockFreeAt = 1_412; // the group in flight when the window became due is reported at 1.412 s
    const timer = new TickTimer(1000, () => {
      ticks.push(Date.now());
      if (Date.now() >= clockFreeAt && Date.now() >= due) due += 5_000; // flushed; the next window closes 5 s later
    }, () => due);
    timer.start();
    advance(1_999);
    assert.deepEqual(ticks, [1000, 1401, 1406, 1416], "closed at the second retry (15 ms after its due tick), not at 2 s");
    advance(5_000);
    assert.deepEqual(ticks.slice(4), [2000, 3000, 4000, 5000, 6000, 6401], "a fresh window gets its own due tick and retries again");
    timer.stop();
  });

  it("a window already due ticks at once; one due after the next periodic tick waits for it", (t) => {
    mock.timers.enable({ apis: ["setInterval", "setTimeout", "Date"], now: 10_000 });
    t.after(() => mock.timers.reset());
    const ticks: number[] = [];
    let due = 9_000;
    const timer = new TickTimer(1000, () => {
      ticks.push(Date.now());
      due = 15_000; // the flush closed it; the next one is far off
    }, () => due);
    timer.start();
    advance(1);
    assert.deepEqual(ticks, [10_001]);
    advance(3_000);
    assert.deepEqual(ticks, [10_001, 11_000, 12_000, 13_000], "no extra tick for a window due beyond the next period");
    timer.stop();
  });
});
