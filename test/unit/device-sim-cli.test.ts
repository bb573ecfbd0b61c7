import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { parseCliArgs } from "../../device-sim/args.js";
import type { FleetStats } from "../../device-sim/fleet.js";
import { formatLive, formatSummary, RateMeter, startProgress } from "../../device-sim/progress.js";

/** Parses with commander's output captured, so a failing case does not print into the test log. */
function parse(argv: string[]): { opts?: ReturnType<typeof parseCliArgs>; err?: CommanderError; stderr: string } {
  let stderr = "";
  const output = { writeOut: () => undefined, writeErr: (s: string) => void (stderr += s) };
  try {
    return { opts: parseCliArgs(argv, output), stderr };
  } catch (err) {
    assert.ok(err instanceof CommanderError, String(err));
    return { err, stderr };
  }
}

describe("device-sim flags", () => {
  it("has usable defaults", () => {
    const { opts } = parse([]);
    assert.deepEqual(opts, {
      url: "mqtt://127.0.0.1:1883",
      vehicles: 10,
      intervalMs: 1000,
      durationMs: 0,
      seed: 1,
      qos: 1,
      topicPrefix: "vehicles",
      fleets: 3,
      quiet: false,
    });
  });

  it("parses the documented contract", () => {
    const { opts } = parse(["--url", "mqtt://10.0.0.2:1883", "--vehicles", "250", "--interval", "500ms", "--duration", "5m", "--seed", "42", "--qos", "0", "--topic-prefix", "cars/", "--fleets", "5", "--username", "u", "--password", "p"]);
    assert.ok(opts);
    assert.equal(opts.url, "mqtt://10.0.0.2:1883");
    assert.equal(opts.vehicles, 250);
    assert.equal(opts.intervalMs, 500);
    assert.equal(opts.durationMs, 300_000);
    assert.equal(opts.seed, 42);
    assert.equal(opts.qos, 0);
    assert.equal(opts.topicPrefix, "cars");
    assert.equal(opts.fleets, 5);
    assert.equal(opts.username, "u");
    assert.equal(opts.password, "p");
  });

  const bad: [string[], string][] = [
    [["--interval", "foo"], "--interval"],
    [["--interval", "0"], "--interval"],
    [["--duration", "10 seconds"], "--duration"],
    [["--vehicles", "0"], "--vehicles"],
    [["--vehicles", "2.5"], "--vehicles"],
    [["--seed", "abc"], "--seed"],
    [["--qos", "2"], "--qos"],
    [["--fleets", "0"], "--fleets"],
    [["--url", "not a url"], "--url"],
    [["--url", "http://127.0.0.1:1883"], "--url"],
    [["--topic-prefix", "a/#"], "--topic-prefix"],
    [["--nope"], "--nope"],
  ];
  for (const [argv, flag] of bad) {
    it(`rejects ${argv.join(" ")} naming ${flag}`, () => {
      const { err, stderr } = parse(argv);
      assert.ok(err, "expected a CommanderError");
      assert.notEqual(err.exitCode, 0);
      assert.ok(stderr.includes(flag), stderr);
    });
  }
});

const stats = (over: Partial<FleetStats> = {}): FleetStats => ({ vehicles: 5, connected: 4, sent: 100, errors: 1, elapsedMs: 2000, ...over });

describe("device-sim progress", () => {
  it("formats the live line and the summary", () => {
    assert.equal(formatLive(stats(), 49.96), "connected 4/5  sent 100  rate 50.0 msg/s  errors 1  elapsed 2.0s");
    assert.equal(formatSummary(stats()), "summary: vehicles 5  connected 4  messages sent 100  errors 1  elapsed 2.0s  mean rate 50.0 msg/s");
    assert.match(formatSummary(stats({ elapsedMs: 0, sent: 0 })), /mean rate 0\.0 msg\/s/);
  });

  it("measures the rate over a sliding window", () => {
    const m = new RateMeter(1000);
    assert.equal(m.add(0, 0), 0);
    assert.equal(m.add(500, 50), 100);
    assert.equal(m.add(1000, 100), 100);
    // Burst stopped: after the window the old samples no longer dominate.
    m.add(1500, 100);
    m.add(2000, 100);
    assert.equal(m.add(2500, 100), 0);
  });

  it("appends plain lines off a TTY and rewrites one line on a TTY", async () => {
    let plain = "";
    const p1 = startProgress({ stats, out: { write: (s: string) => (plain += s) }, tty: false, everyMs: 10 });
    let tty = "";
    const p2 = startProgress({ stats, out: { write: (s: string) => (tty += s) }, tty: true, everyMs: 10 });
    await new Promise((r) => setTimeout(r, 60));
    p1.stop();
    p2.stop();
    p2.stop();
    assert.ok(plain.split("\n").filter(Boolean).length >= 2, plain);
    assert.ok(!plain.includes("\r"));
    assert.ok(tty.startsWith("\rconnected 4/5"), JSON.stringify(tty));
    assert.ok(tty.endsWith("\x1b[K\n"), JSON.stringify(tty));
    assert.equal(tty.split("\n").length, 2);
    const before = plain.length;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(plain.length, before, "wrote after stop()");
  });
});
