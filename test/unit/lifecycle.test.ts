import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { Writable } from "node:stream";
import { Lifecycle, type Component } from "../../gateway/lifecycle.js";

function recorder(): { log: pino.Logger; lines: { msg: string; component?: string; ms?: number; deadline_ms?: number }[] } {
  const lines: { msg: string; component?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as { msg: string });
      cb();
    },
  });
  return { log: pino({ level: "info" }, sink), lines };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("Lifecycle", () => {
  it("starts in order, closes in reverse, every phase logged with its duration", async () => {
    const { log, lines } = recorder();
    const events: string[] = [];
    const c = (name: string): Component => ({ name, start: () => void events.push(`start ${name}`), close: () => void events.push(`close ${name}`) });
    const lc = new Lifecycle(log).add(c("a")).add(c("b")).add(c("c"));
    await lc.start();
    await lc.close();
    await lc.close(); // idempotent
    await tick();
    assert.deepEqual(events, ["start a", "start b", "start c", "close c", "close b", "close a"]);
    const closed = lines.filter((l) => l.msg === "component closed");
    assert.deepEqual(closed.map((l) => l.component), ["c", "b", "a"]);
    assert.ok(closed.every((l) => typeof l.ms === "number"));
  });

  it("a close that overruns its deadline is logged and the next component is still closed", async () => {
    const { log, lines } = recorder();
    const events: string[] = [];
    const lc = new Lifecycle(log)
      .add({ name: "db", start() {}, close: () => void events.push("close db") })
      .add({ name: "stuck", closeDeadlineMs: 50, start() {}, close: () => new Promise<void>(() => undefined) })
      .add({ name: "broken", start() {}, close: () => Promise.reject(new Error("boom")) });
    await lc.start();
    const t0 = Date.now();
    await lc.close();
    assert.ok(Date.now() - t0 < 2000, "bounded by the deadline");
    assert.deepEqual(events, ["close db"]);
    await tick();
    assert.ok(lines.some((l) => l.component === "stuck" && l.deadline_ms === 50 && /deadline/.test(l.msg)));
    assert.ok(lines.some((l) => l.component === "broken" && /failed to close/.test(l.msg)));
  });

  it("a failing start closes what was started, in reverse, and rethrows", async () => {
    const { log } = recorder();
    const events: string[] = [];
    const ok = (name: string): Component => ({ name, start: () => void events.push(`start ${name}`), close: () => void events.push(`close ${name}`) });
    const lc = new Lifecycle(log).add(ok("a")).add(ok("b")).add({ name: "c", start: () => Promise.reject(new Error("port in use")), close: () => void events.push("close c") }).add(ok("d"));
    await assert.rejects(lc.start(), /port in use/);
    assert.deepEqual(events, ["start a", "start b", "close b", "close a"]);
  });
});
