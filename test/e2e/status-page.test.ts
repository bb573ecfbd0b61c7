import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startFleet, type Fleet } from "../../device-sim/fleet.js";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { connectDevice, startTestGateway } from "../helpers/gateway-inproc.js";
import { REPO } from "../helpers/gateway-process.js";

/**
 * The live status page in a real browser (Debian's chromium, driven by
 * playwright-core) while a simulated fleet sends to the gateway: the figures
 * must move, each uplink must show its state, drops and refusals their reason,
 * and the page must fit a phone's width. Screenshots are kept in test-artifacts/.
 */
const CHROMIUM = "/usr/bin/chromium";
const skip = !existsSync(CHROMIUM) ? "needs Debian's chromium (/usr/bin/chromium)" : !prometheusAvailable() ? "needs Debian's prometheus binary" : false;
const ARTIFACTS = join(REPO, "test-artifacts");

const PIPELINE = `
topics:
  - topic: "vehicles/{vin}/telemetry"
    format: json
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet, model]
aggregation:
  - match: '{__name__=~"vehicle_.*"}'
    interval: 2s
    by: [fleet]
    outputs: [avg, max]
    allowed_lateness: 1s
forward_unmatched: false
`;

async function number(page: Page, testId: string): Promise<number> {
  const text = (await page.getByTestId(testId).textContent()) ?? "";
  const m = /^([\d.,]+)\s*(k|M)?/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]!.replace(/,/g, ""));
  return m[2] === "k" ? n * 1e3 : m[2] === "M" ? n * 1e6 : n;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

describe("live status page at / in a real browser", { skip, timeout: 120_000 }, () => {
  let prom: PrometheusHandle;
  let gw: Awaited<ReturnType<typeof startTestGateway>>;
  let fleet: Fleet;
  let context: BrowserContext;
  let profile: string;
  let base: string;

  before(async () => {
    prom = await startPrometheus();
    gw = await startTestGateway(`${PIPELINE}remote_write:\n  - {url: "${prom.writeUrl}", name: prometheus}\n  - {url: "http://127.0.0.1:1/api/v1/write", name: backup, queue_config: {min_backoff: 200ms, max_backoff: 1s}}\n`);
    base = `http://${gw.gw.httpAddress()}`;
    profile = mkdtempSync(join(tmpdir(), "edgegate-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
    });
    const port = gw.gw.mqttAddress().split(":").at(-1);
    fleet = await startFleet({ url: `mqtt://127.0.0.1:${port}`, vehicles: 8, intervalMs: 250, seed: 3, fleets: 2 });
  });

  after(async () => {
    await fleet?.stop();
    await context?.close();
    await gw?.cleanup();
    await prom?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("shows devices, rates, reduction, uplink states, drops and refusals, and they move", async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await until("8 devices connected", async () => (await number(page, "devices")) === 8);
    await until("messages/s above 0", async () => (await number(page, "messages-rate")) > 0);
    await until("samples out", async () => /\d : 1$/.test((await page.getByTestId("reduction").textContent()) ?? ""));

    // Totals move while the fleet drives (samples in keeps growing on the page, with no reload).
    const inOut = async () => Number(/^([\d,]+) in/.exec((await page.locator("#in-out").textContent()) ?? "")?.[1]?.replace(/,/g, "") ?? NaN);
    const first = await inOut();
    await until("samples in grows", async () => (await inOut()) > first);
    const ratio = Number(((await page.getByTestId("reduction").textContent()) ?? "").split(" ")[0]);
    assert.ok(ratio > 1, `the aggregation reduces: ratio ${ratio}`);

    // Uplinks: the real Prometheus is up, the closed port is down with its error and a growing outbox.
    await until("prometheus up", async () => (await page.locator('[data-target="prometheus"] .badge').textContent()) === "up");
    await until("backup down", async () => (await page.locator('[data-target="backup"] .badge').textContent()) === "down");
    assert.match((await page.locator('[data-target="backup"] .err').textContent()) ?? "", /ECONNREFUSED|connect/i);
    await until("backup outbox grows", async () => /outbox [1-9][\d,]* batches/.test((await page.locator('[data-target="backup"] .figs').textContent()) ?? ""));

    // A malformed payload and a message on a topic with no rule: a drop and a refusal, each with its reason.
    const device = await connectDevice(gw.gw, "bad-device");
    await device.publishAsync("vehicles/BAD/telemetry", "{not json", { qos: 1 });
    await device.publishAsync("elsewhere/x", "{}", { qos: 1 });
    await device.endAsync();
    await until("invalid_json in drops", async () => ((await page.getByTestId("drops").textContent()) ?? "").includes("invalid_json"));
    await until("no_topic_rule in refusals", async () => ((await page.getByTestId("refusals").textContent()) ?? "").includes("no_topic_rule"));

    // Charts are drawn, the page fits a phone without sideways scrolling, no script errors.
    assert.equal(await page.locator("canvas").count(), 3);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
    assert.deepEqual(errors, []);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "status-page-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(ARTIFACTS, "status-page-desktop.png"), fullPage: true });
  });

  it("the event stream and /api/v1/live serve the same points", async () => {
    const res = await fetch(`${base}/api/v1/live`);
    const body = (await res.json()) as { points: { t: number; samples_in_total: number }[] };
    assert.ok(body.points.length >= 3);
    const pts = body.points;
    assert.ok(pts.at(-1)!.samples_in_total > pts[0]!.samples_in_total);
    const ac = new AbortController();
    const sse = await fetch(`${base}/api/v1/events`, { signal: ac.signal });
    assert.equal(sse.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = sse.body!.getReader();
    let text = "";
    while (!/\n\ndata: \{/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    assert.match(text, /^retry: 2000\nevent: history\ndata: \[/);
  });
});
