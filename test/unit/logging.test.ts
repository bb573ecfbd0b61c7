import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { logfmtLine } from "../../gateway/logging/logfmt.js";
import { createLogger } from "../../gateway/logging/logger.js";
import { RepeatLimiter } from "../../gateway/logging/repeat-limiter.js";

test("logfmt: ts, level and msg first, values quoted only when needed, errors by message", () => {
  const line = logfmtLine({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 1, hostname: "h", name: "edgegate", msg: "remote-write failed: HTTP 503", target: "prom", status: 503, ok: true, err: { type: "Error", message: "boom now", stack: "..." }, obj: { a: 1 } });
  assert.equal(line, 'ts=2026-01-02T03:04:05.000Z level=warn msg="remote-write failed: HTTP 503" target=prom status=503 ok=true err="boom now" obj="{\\"a\\":1}"\n');
});

test("createLogger --log.format=logfmt writes one logfmt line per record", async () => {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  const log = createLogger("info", "logfmt", out as unknown as NodeJS.WriteStream);
  log.info({ mqtt: "0.0.0.0:1883" }, "edgegate started");
  log.debug("hidden");
  await new Promise((r) => setImmediate(r));
  assert.match(text, /^ts=\S+ level=info msg="edgegate started" mqtt=0\.0\.0\.0:1883\n$/);
});

test("RepeatLimiter: same message logged once per interval with the count of repeats; a new message at once", () => {
  let t = 0;
  const l = new RepeatLimiter(60_000, () => t);
  assert.deepEqual(l.check("a", "down"), { suppressed: 0 });
  for (let i = 0; i < 5; i++) {
    t += 1000;
    assert.equal(l.check("a", "down"), null);
  }
  assert.deepEqual(l.check("a", "HTTP 500"), { suppressed: 0 }, "a different failure is not hidden");
  assert.deepEqual(l.check("b", "down"), { suppressed: 0 }, "keys are independent");
  t += 1000;
  assert.equal(l.check("a", "HTTP 500"), null);
  t += 60_000;
  assert.deepEqual(l.check("a", "HTTP 500"), { suppressed: 1 });
  l.reset("a");
  assert.deepEqual(l.check("a", "HTTP 500"), { suppressed: 0 });
});
