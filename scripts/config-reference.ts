/**
 * Renders docs/configuration.md from the config schema (the single source of
 * truth), like Telegraf embeds each plugin's sample config in its docs so they
 * cannot drift. `npm run docs` rewrites the file; test/unit/config-docs.test.ts
 * fails when it is stale.
 */
import { z } from "zod";
import { configSchema } from "../gateway/config/schema.js";
import { DEFAULT_CONFIG_YAML } from "../gateway/config/defaults.js";

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  minItems?: number;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((e) => `\`${String(e)}\``).join(" \\| ");
  if (s.anyOf) return s.anyOf.map(typeOf).join(" or ");
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "any"}`;
  if (s.type === "object" && s.additionalProperties && typeof s.additionalProperties === "object") return `map of ${typeOf(s.additionalProperties)}`;
  if (s.type === "object" && s.properties) return "object";
  return Array.isArray(s.type) ? s.type.join(" or ") : (s.type ?? "any");
}

function rows(s: JsonSchema, path: string, required: boolean, out: string[]): void {
  const def = s.default === undefined ? (required ? "required" : "—") : `\`${JSON.stringify(s.default)}\``;
  const enumItems = s.type === "array" && s.items?.enum ? `list of ${typeOf(s.items)}` : null;
  if (path !== "") out.push(`| \`${path}\` | ${enumItems ?? typeOf(s)} | ${def} | ${(s.description ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ")} |`);
  const obj = s.type === "array" && s.items?.properties ? s.items : s;
  const prefix = s.type === "array" ? `${path}[]` : path;
  if (obj.properties) {
    const req = new Set((obj as { required?: string[] }).required ?? []);
    for (const [k, v] of Object.entries(obj.properties)) rows(v, prefix === "" ? k : `${prefix}.${k}`, req.has(k), out);
  }
}

export function renderConfigReference(): string {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const out: string[] = [
    "# edgegate configuration reference",
    "",
    "<!-- Generated from gateway/config/schema.ts by `npm run docs`; do not edit by hand. -->",
    "",
    "YAML, Prometheus-style snake_case keys. Durations are Prometheus durations (`500ms`, `10s`, `5m`, `1h30m`).",
    "Unknown keys are errors. Validate a file with `edgegate --check-config FILE` (exit 0, or 1 with every problem named by key path and value).",
    "",
    "| key | type | default | description |",
    "| --- | --- | --- | --- |",
  ];
  rows(schema, "", false, out);
  out.push("", "## Built-in defaults", "", "What `edgegate` runs without `--config` (`edgegate --print-defaults`):", "", "```yaml", DEFAULT_CONFIG_YAML.trimEnd(), "```", "");
  return out.join("\n");
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ""))) {
  const { writeFileSync } = await import("node:fs");
  writeFileSync(new URL("../docs/configuration.md", import.meta.url), renderConfigReference());
  process.stdout.write("wrote docs/configuration.md\n");
  const { renderExampleConfig } = await import("./example-config.js");
  writeFileSync(new URL("../deploy/edgegate.example.yaml", import.meta.url), renderExampleConfig());
  process.stdout.write("wrote deploy/edgegate.example.yaml\n");
}
