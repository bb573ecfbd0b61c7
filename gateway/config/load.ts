import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { configSchema, type Config } from "./schema.js";
import { DEFAULT_CONFIG_YAML } from "./defaults.js";
import { expandEnv } from "./env.js";

/** A config that cannot be used; `problems` are one line each, naming the key path and the bad value. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** `remote_write[0].queue_config.min_backoff`, the way the key is written in YAML. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(top level)" : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function describeValue(v: unknown): string {
  if (v === undefined) return "missing";
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}

function issueLines(issues: z.core.$ZodIssue[], raw: unknown): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) lines.push(`${formatKeyPath([...issue.path, key])}: unknown key`);
      continue;
    }
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      // Report the branch that got furthest instead of "invalid input".
      const best = issue.errors.reduce((a, b) => (b.length < a.length ? b : a));
      lines.push(...issueLines(best.map((e) => ({ ...e, path: [...issue.path, ...e.path] })), raw));
      continue;
    }
    const value = valueAt(raw, issue.path);
    lines.push(`${formatKeyPath(issue.path)}: ${issue.message} (got ${describeValue(value)})`);
  }
  return lines;
}

/** Expands `${ENV_VAR}`s, parses and validates YAML text; throws ConfigError listing every problem. */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(expandEnv(text, source, env), { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => `YAML syntax: ${e.message.split("\n")[0]}`));
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, issueLines(result.error.issues, raw));
  return result.data;
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read file: ${(err as Error).message}`]);
  }
  return resolveConfigPaths(parseConfig(text, path), dirname(path));
}

/**
 * Files a config refers to (registries, TLS material, secrets) are relative to
 * the config file's folder, as in Prometheus's own config, so a config and its
 * reference data can be moved together. `storage.path` is the exception: like
 * Prometheus's --storage.tsdb.path it is relative to the working directory.
 */
export function resolveConfigPaths(config: Config, baseDir: string): Config {
  const abs = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(baseDir, p));
  for (const e of config.enrich) {
    e.file = abs(e.file);
    if (e.sqlite) e.sqlite.path = abs(e.sqlite.path)!;
  }
  for (const rw of config.remote_write) {
    if (rw.tls_config) {
      rw.tls_config.ca_file = abs(rw.tls_config.ca_file);
      rw.tls_config.cert_file = abs(rw.tls_config.cert_file);
      rw.tls_config.key_file = abs(rw.tls_config.key_file);
    }
    if (rw.basic_auth) rw.basic_auth.password_file = abs(rw.basic_auth.password_file);
    rw.bearer_token_file = abs(rw.bearer_token_file);
  }
  return config;
}

export function defaultConfig(): Config {
  return parseConfig(DEFAULT_CONFIG_YAML, "built-in defaults");
}
