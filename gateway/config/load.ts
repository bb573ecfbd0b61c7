import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { configSchema, type Config } from "./schema.js";
import { DEFAULT_CONFIG_YAML } from "./defaults.js";
import { expandEnv } from "./env.js";
import { ConfigError } from "./config-error.js";

// In its own module so env.ts can throw it without importing this one (no import cycle).
export { ConfigError } from "./config-error.js";

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
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  resolveMarked(fileKeySchema(), config, abs);
  return config;
}

/** The JSON Schema of the config's output, where keys made with `filePath()` carry `filePath: true`. */
interface MarkedSchema {
  filePath?: boolean;
  properties?: Record<string, MarkedSchema>;
  items?: MarkedSchema;
  anyOf?: MarkedSchema[];
  additionalProperties?: MarkedSchema | boolean;
}

let fileKeys: MarkedSchema | null = null;
function fileKeySchema(): MarkedSchema {
  fileKeys ??= z.toJSONSchema(configSchema, { io: "output", unrepresentable: "any" }) as MarkedSchema;
  return fileKeys;
}

/** Rewrites, in place, every string of `value` that its schema marks as a file path. */
function resolveMarked(schema: MarkedSchema, value: unknown, abs: (p: string) => string): void {
  if (value === null || typeof value !== "object") return;
  for (const alt of schema.anyOf ?? []) resolveMarked(alt, value, abs);
  if (Array.isArray(value)) {
    if (schema.items) for (const v of value) resolveMarked(schema.items, v, abs);
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const v = obj[key];
    if (sub.filePath === true && typeof v === "string") obj[key] = abs(v);
    else resolveMarked(sub, v, abs);
  }
}

export function defaultConfig(): Config {
  return parseConfig(DEFAULT_CONFIG_YAML, "built-in defaults");
}
