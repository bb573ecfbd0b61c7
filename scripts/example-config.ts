/**
 * Renders deploy/edgegate.example.yaml from the config schema: every key in
 * schema order with its description as a comment, set to its example (the
 * schema's `example` meta) or its default; keys with neither are shown commented
 * out. `npm run docs` rewrites it; test/unit/deploy-config.test.ts fails when it
 * is stale, so the example cannot drift from the schema.
 */
import { stringify } from "yaml";
import { z } from "zod";
import { configSchema } from "../gateway/config/schema.js";

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  example?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

const WIDTH = 88;

function comment(text: string, indent: string): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.replace(/\s+/g, " ").trim().split(" ")) {
    if (line !== "" && indent.length + 2 + line.length + 1 + word.length > WIDTH) {
      out.push(`${indent}# ${line}`);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") out.push(`${indent}# ${line}`);
  return out;
}

/** `key: value` in block style, indented. */
function entry(key: string, value: unknown, indent: string): string[] {
  return stringify({ [key]: value }, { lineWidth: 0, defaultStringType: "PLAIN", defaultKeyType: "PLAIN" })
    .trimEnd()
    .split("\n")
    .map((l) => indent + l);
}

function render(schema: JsonSchema, indent: string, out: string[]): void {
  const required = new Set(schema.required ?? []);
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    out.push(...comment(sub.description ?? "", indent));
    const value = sub.example ?? sub.default;
    if (sub.type === "object" && sub.properties && sub.example === undefined) {
      out.push(`${indent}${key}:`);
      render(sub, indent + "  ", out);
    } else if (value !== undefined) {
      out.push(...entry(key, value, indent));
    } else {
      out.push(`${indent}# ${key}:${required.has(key) ? " (required)" : ""}`);
    }
    if (indent === "") out.push("");
  }
}

export function renderExampleConfig(): string {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const out = [
    "# edgegate example configuration, generated from the config schema by `npm run docs`:",
    "# every key with its description, set to an example or its default. Do not edit by hand;",
    "# the full reference is docs/configuration.md. Validate with:",
    "#   edgegate --check-config deploy/edgegate.example.yaml",
    "",
  ];
  render(schema, "", out);
  return out.join("\n").trimEnd() + "\n";
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ""))) {
  const { writeFileSync } = await import("node:fs");
  writeFileSync(new URL("../deploy/edgegate.example.yaml", import.meta.url), renderExampleConfig());
  process.stdout.write("wrote deploy/edgegate.example.yaml\n");
}
