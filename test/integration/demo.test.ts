import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/gateway-process.js";

/** `npm run demo` tells the story: a progress line while it runs, rounded values, a fleet already driving, a closing summary. */
test("the demo shows progress, rounded roll-ups with vehicles driving from the start, and a summary whose figures add up", { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-demo-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = await new Promise<string>((resolve, reject) => {
    // Port 1 refuses at once: no Prometheus, so the built-in receiver prints what arrives.
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), join(REPO, "scripts", "demo.ts"), "--vehicles", "20", "--duration", "7s", "--prometheus", "http://127.0.0.1:1", "--free-ports"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 80_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`demo exited with ${code}:\n${text}`));
    });
  });
  // Not a terminal: a plain progress line every 5 s, with devices, messages and samples.
  assert.match(out, /^\[demo\] 5\/7 s {2}devices 20\/20 {2}messages [\d,]+ \([\d.]+\/s\) {2}samples in [\d,]+ {2}out [\d,]+ /m, out);
  // Roll-up values are rounded for reading (at most 4 significant digits).
  const values = [...out.matchAll(/^vehicle_\w+:10s_by_fleet_\w+\{[^}]*\} (\S+) @/gm)].map((m) => m[1]!);
  assert.ok(values.length > 50, out);
  for (const v of values) assert.ok(v.replace(/^-|\.|e.*$/g, "").replace(/^0+/, "").length <= 4 || /^\d+$/.test(v), `not rounded: ${v}`);
  // A share of the fleet is already driving in the first window.
  const maxSpeeds = [...out.matchAll(/^vehicle_speed_kmh:10s_by_fleet_max\{[^}]*\} (\S+) @/gm)].map((m) => Number(m[1]));
  assert.ok(maxSpeeds.length > 0 && maxSpeeds.some((v) => v > 15), `max speeds ${maxSpeeds.join(", ")}`);
  // The closing summary: samples in, samples out and the reduction ratio, consistent with each other.
  const m = /^\[demo\] summary: ([\d,]+) samples in \(from ([\d,]+) messages\) → ([\d,]+) samples out; reduction ([\d.]+) : 1/m.exec(out);
  assert.ok(m, out.slice(-2000));
  const num = (s: string) => Number(s.replace(/,/g, ""));
  const [samplesIn, messages, samplesOut, ratio] = [num(m[1]!), num(m[2]!), num(m[3]!), Number(m[4])];
  assert.ok(messages >= 20 * 6, `messages ${messages}`);
  assert.ok(samplesIn > messages && samplesOut > 0);
  assert.ok(Math.abs(samplesIn / samplesOut - ratio) < 0.05, `${samplesIn}/${samplesOut} vs ${ratio}`);
  const sampleLines = out.split("\n").filter((l) => /^vehicle_\w+:10s_by_fleet_\w+\{/.test(l)).length;
  assert.equal(sampleLines, samplesOut, "every sample out was printed by the receiver");
});
