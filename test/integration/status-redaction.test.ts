import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestGateway } from "../helpers/gateway-inproc.js";

// The HTTP port has no authentication by default (as Prometheus's), so what it shows must not
// carry a target's secrets: query-string tokens and URL credentials are redacted everywhere.
test("the status page's live data and event stream show target URLs without their query-string secrets", async (t) => {
  const { gw, cleanup } = await startTestGateway('topics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9/api/v1/write?token=s3cr3t-t0ken"}]\n');
  t.after(cleanup);
  const base = `http://${gw.httpAddress()}`;
  let live = "";
  for (let i = 0; i < 50; i++) {
    live = await (await fetch(`${base}/api/v1/live`)).text();
    if (live.includes("127.0.0.1:9")) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(live, /127\.0\.0\.1:9\/api\/v1\/write\?token=<secret>/, live.slice(0, 500));
  assert.ok(!live.includes("s3cr3t-t0ken"), "no token in /api/v1/live");
  const ctl = new AbortController();
  const res = await fetch(`${base}/api/v1/events`, { signal: ctl.signal });
  const reader = res.body!.getReader();
  let events = "";
  while (!events.includes("127.0.0.1:9")) events += new TextDecoder().decode((await reader.read()).value);
  ctl.abort();
  assert.ok(!events.includes("s3cr3t-t0ken"), "no token in /api/v1/events");
  const root = await (await fetch(`${base}/`)).text();
  assert.ok(!root.includes("s3cr3t-t0ken"));
});
