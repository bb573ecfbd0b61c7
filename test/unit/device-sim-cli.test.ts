import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { parseCliArgs } from "../../device-sim/args.js";
import { parseVerifyArgs } from "../../device-sim/verify-cli.js";
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
    [["--mode", "xml"], "--mode"],
    [["--rate", "0"], "--rate"],
    [["--dead-zones", "-1"], "--dead-zones"],
    [["--tunnel-duration", "3m-30s"], "--tunnel-duration"],
    [["--workers", "0"], "--workers"],
    [["--buffer", "0"], "--buffer"],
  ];

  it("parses modes, rate, lossy links, TLS, workers and the ledger", () => {
    const { opts } = parse([
      "--vehicles", "200", "--mode", "flink-events", "--rate", "1000", "--batch-size", "5", "--replay-batch", "50", "--buffer", "600",
      "--persistent-session", "--dead-zones", "6", "--tunnels", "2", "--tunnel-duration", "30s-2m", "--outage-duration", "10m-20m",
      "--url", "mqtts://broker:8883", "--ca", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--insecure", "--workers", "4", "--ledger", "l.jsonl",
      "--drain-timeout", "10s",
    ]);
    assert.ok(opts);
    assert.equal(opts.mode, "flink-events");
    assert.equal(opts.ratePerS, 1000);
    assert.equal(opts.intervalMs, 200, "interval follows the rate: 200 vehicles at 1000/s");
    assert.equal(opts.batchSize, 5);
    assert.equal(opts.replayBatch, 50);
    assert.equal(opts.bufferSize, 600);
    assert.equal(opts.persistentSession, true);
    assert.deepEqual(opts.deadZones, { perHour: 6, minMs: 5_000, maxMs: 30_000 });
    assert.deepEqual(opts.tunnels, { perHour: 2, minMs: 30_000, maxMs: 120_000 });
    assert.deepEqual(opts.outages, { perHour: 0, minMs: 600_000, maxMs: 1_200_000 });
    assert.equal(opts.url, "mqtts://broker:8883");
    assert.deepEqual([opts.ca, opts.cert, opts.key, opts.insecure], ["ca.pem", "c.pem", "k.pem", true]);
    assert.equal(opts.workers, 4);
    assert.equal(opts.ledger, "l.jsonl");
    assert.equal(opts.drainTimeoutMs, 10_000);
  });
  it("parses the batched Flink mode and its age bound", () => {
    const { opts } = parse(["--vehicles", "10000", "--mode", "flink-batch", "--batch-size", "10", "--batch-max-age", "1s", "--rate", "100000", "--workers", "2", "--connect-timeout", "1m"]);
    assert.ok(opts);
    assert.equal(opts.mode, "flink-batch");
    assert.equal(opts.batchSize, 10);
    assert.equal(opts.batchMaxAgeMs, 1000);
    assert.equal(opts.workers, 2);
    assert.equal(opts.connectTimeoutMs, 60_000);
    assert.ok(parse(["--batch-max-age", "0s"]).err, "an age bound of 0 is refused");
  });
  for (const [argv, flag] of bad) {
    it(`rejects ${argv.join(" ")} naming ${flag}`, () => {
      const { err, stderr } = parse(argv);
      assert.ok(err, "expected a CommanderError");
      assert.notEqual(err.exitCode, 0);
      assert.ok(stderr.includes(flag), stderr);
    });
  }
});

const stats = (over: Partial<FleetStats> = {}): FleetStats => ({
  vehicles: 5, connected: 4, offline: 1, sent: 100, readings: 120, buffered: 7, dropped: 2, errors: 1, reconnects: 3, lagMs: 4, elapsedMs: 2000, ...over,
});

describe("device-sim progress", () => {
  it("formats the live line and the summary", () => {
    assert.equal(formatLive(stats(), 49.96), "connected 4/5  offline 1  buffered 7  sent 100  rate 50.0 msg/s  dropped 2  errors 1  lag 4ms  elapsed 2.0s");
    assert.equal(
      formatSummary(stats()),
      "summary: vehicles 5  connected 4  messages sent 100  errors 1  elapsed 2.0s  mean rate 50.0 msg/s  readings 120  buffered 7  dropped 2  reconnects 3  lag 4ms",
    );
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
    // Poll instead of sleeping a fixed 60 ms: a loaded test runner may fire a 10 ms timer late.
    for (let i = 0; i < 200 && (plain.split("\n").filter(Boolean).length < 2 || tty === ""); i++) await new Promise((r) => setTimeout(r, 10));
    p1.stop();
    p2.stop();
    p2.stop();
    assert.ok(plain.split("\n").filter(Boolean).length >= 2, plain);
    assert.ok(!plain.includes("\r"));
    assert.ok(tty.startsWith("\rconnected 4/5  offline 1"), JSON.stringify(tty));
    assert.ok(tty.endsWith("\x1b[K\n"), JSON.stringify(tty));
    assert.equal(tty.split("\n").length, 2);
    const before = plain.length;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(plain.length, before, "wrote after stop()");
  });
});

describe("device-sim verify flags", () => {
  const quiet = { writeOut: () => undefined, writeErr: () => undefined };
  it("requires --ledger and --prometheus, defaults --wait to 30s", () => {
    assert.deepEqual(parseVerifyArgs(["--ledger", "l.jsonl", "--prometheus", "http://p:9090"], quiet), { ledger: "l.jsonl", prometheus: "http://p:9090", waitMs: 30_000, verbose: false });
    assert.deepEqual(parseVerifyArgs(["--ledger", "l", "--prometheus", "https://p", "--config", "c.yaml", "--wait", "0", "--verbose"], quiet), {
      ledger: "l", prometheus: "https://p", config: "c.yaml", waitMs: 0, verbose: true,
    });
    for (const argv of [["--prometheus", "http://p"], ["--ledger", "l"], ["--ledger", "l", "--prometheus", "mqtt://p"], ["--ledger", "l", "--prometheus", "http://p", "--wait", "x"]]) {
      assert.throws(() => parseVerifyArgs(argv, quiet), (err: unknown) => err instanceof CommanderError && err.exitCode !== 0, argv.join(" "));
    }
  });
});
