import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../gateway/config/load.js";
import { buildGateway } from "../../gateway/app.js";
import { RETRY_REASONS, DEAD_LETTER_REASONS } from "../../gateway/metrics/known-labels.js";
import { DROP_REASONS } from "../../gateway/metrics/drop-reasons.js";
import { buildInfo, gitRevision } from "../../gateway/metrics/build-info.js";

const root = new URL("../..", import.meta.url).pathname;

const CONFIG = `
topics: [{topic: "v/{vin}", format: json}]
remote_write:
  - {url: "http://127.0.0.1:1/api/v1/write", name: main}
  - {url: "http://127.0.0.1:2/api/v1/write"}
`;

async function exposition(): Promise<string> {
  const gw = buildGateway(parseConfig(CONFIG, "test.yaml"));
  return gw.metrics.registry.metrics();
}

test("every labelled counter is exported at 0 for its known label values before any event", async () => {
  const text = await exposition();
  // Every reason of the drop-reason catalogue (which test/unit/drop-reasons.test.ts keeps complete), on its counter.
  for (const [reason, { counter }] of Object.entries(DROP_REASONS)) {
    const name = counter === "messages" ? "edgegate_ingest_messages_dropped_total" : "edgegate_samples_dropped_total";
    assert.match(text, new RegExp(`^${name}\\{reason="${reason}"\\} 0$`, "m"));
  }
  for (const target of ["main", "127.0.0.1:2"]) {
    for (const reason of RETRY_REASONS) assert.ok(text.includes(`edgegate_remote_write_retries_total{target="${target}",reason="${reason}"} 0`), `${target} ${reason}`);
    for (const reason of DEAD_LETTER_REASONS) assert.ok(text.includes(`edgegate_remote_write_dead_lettered_samples_total{target="${target}",reason="${reason}"} 0`));
    assert.ok(text.includes(`edgegate_outbox_samples_written_total{target="${target}"} 0`));
    assert.ok(text.includes(`edgegate_remote_write_samples_sent_total{target="${target}"} 0`));
    assert.ok(text.includes(`edgegate_outbox_evicted_samples_total{target="${target}",reason="evicted_age"} 0`));
  }
});

test("edgegate_build_info names version, revision and node version; process metrics use the standard names", async () => {
  const text = await exposition();
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  const m = /^edgegate_build_info\{version="([^"]+)",revision="([^"]+)",node_version="([^"]+)"\} 1$/m.exec(text);
  assert.ok(m, "edgegate_build_info missing");
  assert.equal(m[1], pkg.version);
  assert.equal(m[3], process.version);
  // This test runs from a git checkout: the revision is its HEAD (read from .git without a git binary).
  let head = "";
  try {
    head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
  } catch {
    /* no git binary: compare with the .git reader only */
  }
  if (head !== "") assert.equal(m[2], head);
  assert.equal(gitRevision(root), m[2]);
  assert.equal(buildInfo().revision, m[2]);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
  assert.match(text, /^process_cpu_seconds_total /m);
  assert.match(text, /^nodejs_heap_size_used_bytes /m);
  assert.doesNotMatch(text, /^edgegate_process_|^edgegate_nodejs_/m);
});
