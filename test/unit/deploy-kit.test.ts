import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { startTestGateway } from "../helpers/gateway-inproc.js";
import { buildGateway } from "../../gateway/app.js";
import { parseConfig } from "../../gateway/config/load.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
const UNIT = "deploy/edgegate.service";
const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
const noAnalyze = analyze ? false : "systemd-analyze not installed (Debian package `systemd`)";

/** The unit as installed, with the install-time node path swapped for this machine's node, under its real name. */
function unitCopy(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-unit-"));
  const file = join(dir, "edgegate.service");
  writeFileSync(file, read(UNIT).replaceAll("/opt/edgegate/bin/node", process.execPath));
  return { dir, file };
}

test("systemd-analyze security rates the unit 3.0 or better", { skip: noAnalyze }, (t) => {
  const { dir, file } = unitCopy();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", file], { encoding: "utf8" });
  const m = /Overall exposure level for edgegate\.service: ([\d.]+) (\S+)/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  const score = Number(m[1]);
  t.diagnostic(`systemd-analyze security: ${score} ${m[2]}`);
  assert.ok(score <= 3.0, `exposure ${score} > 3.0:\n${r.stdout.split("\n").filter((l) => l.startsWith("✗")).join("\n")}`);
});

test("systemd-analyze verify finds nothing to complain about", { skip: noAnalyze }, (t) => {
  const { dir, file } = unitCopy();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), "", r.stderr);
});

test("the unit and the install script agree on the layout (user, node link, app, config, state)", () => {
  const unit = read(UNIT);
  const sh = read("deploy/install.sh");
  assert.match(unit, /^User=edgegate$/m);
  assert.match(unit, /^ExecStart=\/opt\/edgegate\/bin\/node \/opt\/edgegate\/app\/dist\/gateway\/main\.js --config \/etc\/edgegate\/edgegate\.yaml/m);
  assert.match(unit, /^StateDirectory=edgegate$/m);
  assert.match(unit, /^WorkingDirectory=\/var\/lib\/edgegate$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.doesNotMatch(unit, /\/usr\/bin\/node/, "Debian 12's /usr/bin/node is Node 18");
  assert.match(sh, /adduser --system --group .* edgegate/);
  assert.match(sh, /ln -sfn "\$NODE_BIN" "\$PREFIX\/bin\/node"/);
  assert.match(sh, /PREFIX="\$\{PREFIX:-\/opt\/edgegate\}"/);
  assert.match(sh, /"\$NPM" ci --omit=dev/);
  assert.match(sh, /\/etc\/edgegate/);
  assert.match(sh, /\/var\/lib\/edgegate/);
  assert.match(sh, /python3 make g\+\+/);
  const syntax = spawnSync("sh", ["-n", join(ROOT, "deploy/install.sh")], { encoding: "utf8" });
  assert.equal(syntax.status, 0, syntax.stderr);
  if (spawnSync("shellcheck", ["--version"]).status === 0) {
    const sc = spawnSync("shellcheck", ["-s", "sh", join(ROOT, "deploy/install.sh")], { encoding: "utf8" });
    assert.equal(sc.status, 0, sc.stdout);
  }
});

/** Bare package names imported (statically or dynamically, not type-only) by the code a production install runs. */
function runtimeImports(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) {
        const text = readFileSync(p, "utf8");
        for (const m of text.matchAll(/^import (?!type )[^;]*?from "([^".][^"]*)"|import\("([^".][^"]*)"\)/gm)) {
          const spec = (m[1] ?? m[2])!;
          if (spec.startsWith("node:")) continue;
          const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
          out.set(pkg, p.slice(ROOT.length));
        }
      }
    }
  };
  walk(join(ROOT, "gateway"));
  walk(join(ROOT, "device-sim"));
  return out;
}

test("production installs need no TypeScript toolchain: runtime imports are dependencies, tsx is not", () => {
  const pkg = JSON.parse(read("package.json")) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string>; files: string[] };
  for (const dev of ["tsx", "typescript", "esbuild"]) assert.equal(pkg.dependencies[dev], undefined, `${dev} must not be a runtime dependency`);
  const imports = runtimeImports();
  assert.ok(imports.has("fastify") && imports.has("@smithy/signature-v4"), "the scan finds static and dynamic imports");
  for (const [name, file] of imports) assert.ok(pkg.dependencies[name] !== undefined, `${file} imports ${name}, which is not in dependencies`);
  assert.equal(pkg.scripts.prepare, "node scripts/prepare.mjs");
  assert.ok(pkg.files.includes("gateway/http/ui"), "the status page's files ship with the package");
});

test("prepare steps aside without TypeScript instead of failing (npm ci --omit=dev)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-prepare-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "prepare.mjs"), read("scripts/prepare.mjs"));
  const r = spawnSync(process.execPath, [join(dir, "prepare.mjs")], { cwd: dir, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /TypeScript not installed/);
});

test("the compiled gateway reports the revision stamped at build time", { skip: existsSync(join(ROOT, "dist/build-info.json")) ? false : "dist/ not built" }, () => {
  const stamp = JSON.parse(read("dist/build-info.json")) as { revision: string };
  const r = spawnSync(process.execPath, [join(ROOT, "dist/gateway/main.js"), "--version"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes(`(revision: ${stamp.revision || "unknown"})`), r.stdout);
});

test("Containerfile: multi-stage, runtime without toolchain, non-root, data volume, working health check", async (t) => {
  const text = read("deploy/Containerfile").replace(/\\\n\s*/g, " ");
  const stages = text.split(/^FROM /m).slice(1);
  assert.ok(stages.length >= 2, "multi-stage");
  const runtime = stages.at(-1)!;
  assert.doesNotMatch(runtime, /g\+\+|npm run build|typescript|tsx/, "the runtime stage has no build toolchain");
  assert.match(runtime, /^USER (?!root)\S+/m);
  assert.match(runtime, /^VOLUME \["\/var\/lib\/edgegate"\]/m);
  assert.match(runtime, /^EXPOSE 1883 9480/m);
  assert.match(stages.find((s) => /AS deps/.test(s)) ?? "", /npm ci --omit=dev/);
  const hc = /^HEALTHCHECK .*CMD (\[.*\])$/m.exec(runtime);
  assert.ok(hc, "HEALTHCHECK");
  const argv = JSON.parse(hc[1]!) as string[];
  assert.equal(argv[0], "node");
  // Run the health check's own command against a live gateway (its port swapped for the test's).
  const gw = await startTestGateway(`topics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]\n`);
  t.after(() => gw.cleanup());
  const script = argv[2]!.replace("127.0.0.1:9480", gw.gw.httpAddress());
  const run = (s: string) => new Promise<number | null>((resolve) => spawn(process.execPath, ["-e", s], { stdio: "ignore" }).once("exit", resolve));
  assert.equal(await run(script), 0, "healthy gateway → exit 0");
  assert.equal(await run(argv[2]!.replace("127.0.0.1:9480", "127.0.0.1:9")), 1, "nothing listening → exit 1");
});

test("container config: listens on 0.0.0.0 with device authentication on the data volume; adding a device with `edgegate passwd` lets it in", async (t) => {
  const yaml = read("deploy/edgegate.container.yaml");
  const config = parseConfig(yaml, "deploy/edgegate.container.yaml");
  assert.equal(config.mqtt.listen, "0.0.0.0:1883", "a port-mapped container is reached through the container's own interface");
  assert.equal(config.http.listen, "0.0.0.0:9480");
  assert.ok(config.mqtt.auth.password_file?.startsWith("/var/lib/edgegate/"), "the password file is on the data volume");
  assert.notEqual(config.mqtt.auth.allow_anonymous, true);
  // The safe-default rule is what makes the auth block necessary.
  assert.throws(() => parseConfig(yaml.replace(/^ {2}auth:\n(?: {4}.*\n)+/m, ""), "no auth"), /no device authentication/);
  const cf = read("deploy/Containerfile");
  const runtime = cf.split(/^FROM /m).at(-1)!;
  assert.match(runtime, /^COPY \S* ?deploy\/edgegate\.container\.yaml \/etc\/edgegate\/edgegate\.yaml$/m);
  assert.match(runtime, /^COPY \S* ?deploy\/devices\.passwd \/var\/lib\/edgegate\/devices\.passwd$/m);
  assert.match(runtime, /^COPY \S* ?deploy\/devices\.acl \/etc\/edgegate\/devices\.acl$/m);
  assert.match(runtime, /^CMD \["--config", "\/etc\/edgegate\/edgegate\.yaml"/m);
  assert.doesNotMatch(cf, /--print-defaults/);

  // The image's config with its paths moved to a temp dir and its ports to loopback:0.
  const dir = mkdtempSync(join(tmpdir(), "edgegate-container-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "devices.passwd"), read("deploy/devices.passwd"));
  writeFileSync(join(dir, "devices.acl"), read("deploy/devices.acl"));
  const local = yaml
    .replaceAll("/var/lib/edgegate/", dir + "/")
    .replaceAll("/etc/edgegate/", dir + "/")
    .replaceAll('"0.0.0.0:', '"127.0.0.1:')
    .replace(/127\.0\.0\.1:(1883|9480)/g, "127.0.0.1:0")
    .replace("http://prometheus:9090", "http://127.0.0.1:9");
  const gw = buildGateway(parseConfig(local, "container config (local)"), { shutdownSendTimeoutMs: 500 });
  t.after(() => gw.close());
  await gw.start();
  const url = `mqtt://${gw.mqttAddress()}`;
  const opts = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: 3000 };
  await assert.rejects(mqtt.connectAsync(url, { ...opts, username: "VIN-1", password: "s3cret" }), (e: { code?: number }) => e.code === 4);
  // What docs/install.md tells the operator to run in the container.
  const added = spawnSync(process.execPath, [join(ROOT, "dist/gateway/main.js"), "passwd", "-b", join(dir, "devices.passwd"), "VIN-1", "s3cret"], { encoding: "utf8" });
  assert.equal(added.status, 0, added.stderr);
  let client: mqtt.MqttClient | undefined;
  for (let i = 0; i < 50 && !client; i++) {
    client = await mqtt.connectAsync(url, { ...opts, username: "VIN-1", password: "s3cret" }).catch(() => undefined);
    if (!client) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(client, "the added device connects without a restart");
  await client.endAsync();
  await assert.rejects(mqtt.connectAsync(url, opts), (e: { code?: number }) => e.code === 5, "anonymous devices are refused");
});

test("the container image runs with the memory settings the footprint bench measures (those of the systemd unit)", async () => {
  const { shippedEnvironment } = await import("../../bench/footprint.js");
  const unit = shippedEnvironment();
  assert.ok(unit.NODE_OPTIONS && unit.MALLOC_ARENA_MAX, `the unit sets NODE_OPTIONS and MALLOC_ARENA_MAX: ${JSON.stringify(unit)}`);
  const containerfile = readFileSync(join(ROOT, "deploy", "Containerfile"), "utf8");
  const runtime = containerfile.slice(containerfile.lastIndexOf("\nFROM "));
  for (const key of ["NODE_OPTIONS", "MALLOC_ARENA_MAX", "NODE_ENV"]) {
    const m = new RegExp(`\\b${key}=("[^"]*"|\\S+)`).exec(runtime);
    assert.ok(m, `runtime stage sets ${key}`);
    assert.equal(m[1]!.replace(/^"|"$/g, ""), unit[key], key);
  }
});
