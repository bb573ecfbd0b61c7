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

/**
 * While the gateway is behind, libuv's poll phase reads ready sockets for seconds before it returns to
 * the timers phase: a due tick's timer is held that long, yet messages keep being accepted. `poke`,
 * called by the processing path with the current time, runs an overdue tick after the current
 * callback. Timers are mocked and only run when the test says (`loop`); the wall clock is the test's
 * `clock`, which can move while no timer runs (a starved event loop).
 */
describe("pipeline tick timer, poked by the processing path", () => {
  function rig(t: { after: (fn: () => void) => void }, start: number, periodMs = 1000) {
    mock.timers.enable({ apis: ["setInterval", "setTimeout"] });
    t.after(() => mock.timers.reset());
    const s = { clock: start, due: Infinity, closes: true, ticks: [] as number[] };
    const timer = new TickTimer(
      periodMs,
      () => {
        s.ticks.push(s.clock);
        if (s.closes && s.clock >= s.due) s.due = Infinity; // the tick flushed the window
      },
      () => s.due,
      () => s.clock,
    );
    /** The event loop runs normally for `ms`: timers fire as the clock advances. */
    const loop = (ms: number): void => {
      for (let i = 0; i < ms; i++) {
        s.clock++;
        mock.timers.tick(1);
      }
    };
    /** A callback of the poll phase (a message accepted) at the current clock, then its microtasks. */
    const poke = async (): Promise<void> => {
      timer.poke(s.clock);
      await Promise.resolve();
    };
    return { s, timer, loop, poke };
  }

  it("an overdue window-close tick runs after the message that found it overdue, once: its timer is cleared", async (t) => {
    const { s, timer, loop, poke } = rig(t, 0);
    s.due = 2_350;
    timer.start();
    loop(2_000);
    assert.deepEqual(s.ticks, [1000, 2000], "the 2 s tick armed the one-off for 2,351");
    s.clock = 2_350; // the loop is held in the poll phase from here
    await poke();
    assert.deepEqual(s.ticks, [1000, 2000], "not overdue yet: a poke is a compare, no tick");
    s.clock = 2_900;
    timer.poke(s.clock);
    assert.deepEqual(s.ticks, [1000, 2000], "not inside the caller: after its callback");
    await Promise.resolve();
    assert.deepEqual(s.ticks, [1000, 2000, 2900], "the close ran 549 ms late instead of when the loop reaches its timers");
    assert.equal(s.due, Infinity);
    await poke();
    loop(1_000); // the loop gets to its timers (mock 2,000 → 3,000): the one-off's (mock 2,351) was cleared
    assert.deepEqual(s.ticks, [1000, 2000, 2900, 3900], "only the periodic tick follows (mock 3,000 is clock 3,900)");
    timer.stop();
  });

  it("a window the poked tick could not close is tried again by later pokes on the retry schedule", async (t) => {
    const { s, timer, loop, poke } = rig(t, 0);
    s.due = 1_400;
    s.closes = false; // the clock is held at a group in flight
    timer.start();
    loop(1_000);
    s.clock = 1_500; // starved
    await poke();
    assert.deepEqual(s.ticks, [1000, 1500]);
    s.clock = 1_504;
    await poke();
    assert.deepEqual(s.ticks, [1000, 1500], "the first retry is 5 ms after the tick");
    s.clock = 1_505;
    s.closes = true; // the group was reported
    await poke();
    assert.deepEqual(s.ticks, [1000, 1500, 1505]);
    assert.equal(s.due, Infinity);
    s.clock = 1_600;
    await poke();
    assert.deepEqual(s.ticks, [1000, 1500, 1505], "nothing is due");
    timer.stop();
  });

  it("an overdue periodic tick runs from a poke, arms the next close, and its interval restarts from there", async (t) => {
    const { s, timer, loop, poke } = rig(t, 0);
    timer.start();
    loop(500);
    s.clock = 1_900; // starved for 1.4 s: the periodic tick (clock 1,000) did not run
    s.due = 2_300; // a window opened meanwhile, closing within the next period
    await poke();
    assert.deepEqual(s.ticks, [1900], "the periodic tick, which also arms the one-off for 2,301");
    s.clock = 2_301;
    await poke();
    assert.deepEqual(s.ticks, [1900, 2301], "the close, found overdue by the next message");
    loop(600); // mock 500 → 1,100 (clock 2,901): the old interval would have ticked at mock 1,000
    assert.deepEqual(s.ticks, [1900, 2301], "the interval restarted at the poked tick: no tick 400 ms after it");
    loop(400);
    assert.deepEqual(s.ticks, [1900, 2301, 3301], "next periodic tick a period after the poked one (mock 1,500)");
    timer.stop();
    s.clock = 10_000;
    s.due = 9_000;
    await poke();
    assert.equal(s.ticks.length, 3, "stopped: a poke runs nothing");
  });
});

describe("pipeline tick timer, after a journal report", () => {
  /** A window due at 1,400 that stays open while `s.held` (a group in flight holds the clock); the next is due at 6,400. */
  function heldWindow(t: { after: (fn: () => void) => void }) {
    mock.timers.enable({ apis: ["setInterval", "setTimeout"] });
    t.after(() => mock.timers.reset());
    const s = { clock: 0, due: 1_400, held: true, ticks: [] as number[] };
    const timer = new TickTimer(1000, () => {
      s.ticks.push(s.clock);
      if (!s.held && s.clock >= s.due) s.due = 6_400;
    }, () => s.due, () => s.clock);
    const loop = (ms: number): void => {
      for (let i = 0; i < ms; i++) {
        s.clock++;
        mock.timers.tick(1);
      }
    };
    return { s, timer, loop };
  }

  it("a window still open after its close tick's retries is tried again right after a report, not at the next periodic tick", async (t) => {
    const { s, timer, loop } = heldWindow(t);
    const { ticks } = s;
    timer.start();
    loop(1_000);
    timer.reported(s.clock);
    await Promise.resolve();
    assert.deepEqual(ticks, [1000], "nothing held open: a report alone ticks nothing");
    loop(800); // clock 1,800: the due tick at 1,401 and its six retries (to 1,716) found the window held
    assert.deepEqual(ticks, [1000, 1401, 1406, 1416, 1436, 1476, 1556, 1716]);
    s.held = false;
    s.clock += 50; // reported 50 ms after the last retry (no timer ran in between)
    timer.reported(s.clock);
    assert.equal(ticks.length, 8, "after the report's callback, not inside it");
    await Promise.resolve();
    assert.deepEqual(ticks.slice(8), [1850], "closed after the report, not at the 2 s periodic tick");
    assert.equal(s.due, 6_400);
    timer.reported(s.clock);
    await Promise.resolve();
    assert.equal(ticks.length, 9, "the window closed: later reports tick nothing");
    timer.stop();
  });

  it("a report while a retry is armed runs that retry at once, and the retry's timer does not tick again", async (t) => {
    const { s, timer, loop } = heldWindow(t);
    const { ticks } = s;
    timer.start();
    loop(1_402); // the due tick at 1,401 left the window open: a retry is armed for 1,406
    assert.deepEqual(ticks, [1000, 1401]);
    s.held = false;
    timer.reported(s.clock);
    await Promise.resolve();
    assert.deepEqual(ticks, [1000, 1401, 1402]);
    loop(500);
    assert.deepEqual(ticks, [1000, 1401, 1402], "the cleared retry did not fire");
    timer.stop();
  });
});
