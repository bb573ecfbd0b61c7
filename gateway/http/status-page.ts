import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import type { LiveStats } from "./live-stats.js";

/** The page's files live in gateway/http/ui/ (plain HTML/CSS/JS, no build step); found from here whether we run from gateway/ or dist/gateway/. */
function uiDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, "gateway", "http", "ui");
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, "ui", "index.html"))) return join(dir, "ui");
    dir = dirname(dir);
  }
  throw new Error("status page files (gateway/http/ui) not found");
}

const FILES: Record<string, string> = { "app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8" };
// uPlot (a ~50 kB chart library) served from its npm package as published, so the page needs no bundler.
const VENDOR: Record<string, string> = { "uPlot.iife.min.js": "text/javascript; charset=utf-8", "uPlot.min.css": "text/css; charset=utf-8" };

/**
 * The live status page: `GET /` (HTML), `/ui/*` (its script and styles),
 * `/api/v1/live` (the recent points as JSON) and `/api/v1/events`
 * (server-sent events: the history once, then one point per second). Registered
 * on the gateway's fastify instance, so whatever guards the other routes (HTTP
 * basic auth) guards these too.
 */
export function registerStatusPage(app: FastifyInstance, live: LiveStats): void {
  const dir = uiDir();
  const vendorDir = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
  const streams = new Set<NodeJS.WritableStream & { end(): void }>();

  app.get("/", async (_req, reply) => reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(await readFile(join(dir, "index.html"))));
  app.get<{ Params: { file: string } }>("/ui/:file", async (req, reply) => {
    const type = FILES[req.params.file];
    if (!type) return reply.code(404).send({ error: "not found" });
    return reply.type(type).header("cache-control", "no-cache").send(await readFile(join(dir, req.params.file)));
  });
  app.get<{ Params: { file: string } }>("/ui/vendor/:file", async (req, reply) => {
    const type = VENDOR[req.params.file];
    if (!type) return reply.code(404).send({ error: "not found" });
    return reply.type(type).header("cache-control", "public, max-age=86400").send(await readFile(join(vendorDir, req.params.file)));
  });
  app.get("/api/v1/live", async () => ({ points: live.history() }));
  app.get("/api/v1/events", (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      // A reverse proxy (nginx) must not buffer the stream.
      "x-accel-buffering": "no",
    });
    res.write(`retry: 2000\nevent: history\ndata: ${JSON.stringify(live.history())}\n\n`);
    const unsubscribe = live.subscribe((p) => res.write(`data: ${JSON.stringify(p)}\n\n`));
    streams.add(res);
    req.raw.on("close", () => {
      unsubscribe();
      streams.delete(res);
    });
  });
  // Open event streams would keep close() waiting for ever: end them first.
  app.addHook("preClose", async () => {
    for (const s of streams) s.end();
    streams.clear();
    live.stop();
  });
}
