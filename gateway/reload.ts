import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import type { Config } from "./config/schema.js";
import { ConfigError } from "./config/config-error.js";
import { loadConfigIsolated } from "./config/load-isolated.js";

/**
 * Configuration reload without a restart, as Prometheus and vmagent do it:
 * SIGHUP or `POST /-/reload` re-reads the config file; a valid one replaces
 * topic rules, pipeline stages and remote-write targets in place (the MQTT
 * broker and its connections stay up, an aggregation rule whose definition is
 * unchanged keeps its open windows, queued batches stay queued); an invalid
 * one is refused with the reason and the running config stays.
 * `edgegate_config_last_reload_successful` and
 * `edgegate_config_last_reload_success_timestamp_seconds` have Prometheus's names.
 */

/** Config blocks a running gateway cannot change in place (sockets, the open SQLite file). */
export const RESTART_KEYS = ["mqtt", "http", "storage"] as const;

/** Which of RESTART_KEYS differ between the running and the new config (each `key.sub` that changed). */
export function restartOnlyChanges(running: Config, next: Config): string[] {
  const out: string[] = [];
  for (const key of RESTART_KEYS) {
    const a = running[key] as Record<string, unknown>;
    const b = next[key] as Record<string, unknown>;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(`${key}.${k}`);
    }
  }
  return out;
}

/** The new config with the restart-only blocks of the running one (they apply at the next start). */
export function withRunningListeners(running: Config, next: Config): Config {
  return { ...next, mqtt: running.mqtt, http: running.http, storage: running.storage };
}

export interface ReloadReport {
  /** Target names started, replaced (config changed), kept, and removed (their queue is kept until purged). */
  targets: { added: string[]; changed: string[]; kept: string[]; removed: string[] };
  /** Aggregation rules whose state carried over / started empty. */
  rules: { kept: number; fresh: number };
  /** Keys that changed but need a restart (still running with the old values). */
  restartNeeded: string[];
}

/** What the gateway exposes to be reloaded: apply a validated config or throw (and keep the running one). */
export interface Reloadable {
  readonly config: Config;
  applyConfig(next: Config): Promise<ReloadReport>;
}

export interface ReloadResult {
  ok: boolean;
  error?: string;
  report?: ReloadReport;
}

/** Reloads from the file the gateway was started with (or the built-in defaults); one reload at a time. */
export class Reloader {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly successful: Gauge;
  private readonly successTime: Gauge;

  constructor(
    private readonly gateway: Reloadable,
    private readonly source: string | undefined,
    private readonly log: Logger,
    registry: Registry,
    now: () => number = Date.now,
  ) {
    this.successful = new Gauge({ name: "edgegate_config_last_reload_successful", help: "Whether the last configuration reload attempt was successful (1) or refused (0).", registers: [registry] });
    this.successTime = new Gauge({ name: "edgegate_config_last_reload_success_timestamp_seconds", help: "Timestamp of the last successful configuration load (the start counts as one).", registers: [registry] });
    this.successful.set(1);
    this.successTime.set(now() / 1000);
    this.now = now;
  }

  private readonly now: () => number;

  reload(trigger: string): Promise<ReloadResult> {
    const run = this.chain.then(() => this.run(trigger));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async run(trigger: string): Promise<ReloadResult> {
    const file = this.source ?? "built-in defaults";
    let next: Config;
    try {
      // In a worker thread, as at startup: the validator stays out of the gateway's memory.
      next = await loadConfigIsolated(this.source);
    } catch (err) {
      const reason = err instanceof ConfigError ? err.problems.join("; ") : (err as Error).message;
      return this.refuse(trigger, file, reason);
    }
    try {
      const report = await this.gateway.applyConfig(next);
      this.successful.set(1);
      this.successTime.set(this.now() / 1000);
      for (const key of report.restartNeeded) {
        this.log.warn({ key, config: file }, `${key} changed: a listener or storage change needs a restart (systemctl restart edgegate); still running with the previous value`);
      }
      this.log.info({ trigger, config: file, targets: report.targets, rules: report.rules }, "configuration reloaded");
      return { ok: true, report };
    } catch (err) {
      return this.refuse(trigger, file, (err as Error).message);
    }
  }

  private refuse(trigger: string, file: string, reason: string): ReloadResult {
    this.successful.set(0);
    this.log.error({ trigger, config: file, reason }, "configuration reload refused; the previous configuration keeps running");
    return { ok: false, error: `${file}: ${reason}` };
  }
}

/** `POST /-/reload` (PUT too, as Prometheus): 200 with what changed, or 500 with the reason the new config was refused. */
export function registerReloadRoute(app: FastifyInstance, reloader: Reloader): void {
  const handler = async (_req: unknown, reply: { code(n: number): { type(t: string): { send(b: string): unknown } } }) => {
    const r = await reloader.reload("http");
    if (!r.ok) return reply.code(500).type("text/plain; charset=utf-8").send(`failed to reload config: ${r.error}\n`);
    const restart = r.report!.restartNeeded.length > 0 ? `; needs a restart to apply: ${r.report!.restartNeeded.join(", ")}` : "";
    return reply.code(200).type("text/plain; charset=utf-8").send(`edgegate config reloaded${restart}\n`);
  };
  app.post("/-/reload", handler);
  app.put("/-/reload", handler);
}
