import { z } from "zod";
import { duration, labelName, filePath } from "./schema-common.js";

/** `enrich`: device registries (gateway/registry/, gateway/pipeline/enrich.ts). */
export const enrichSchema = z
  .strictObject({
    name: z.string().regex(/^[a-zA-Z0-9_.-]+$/, "must match [a-zA-Z0-9_.-]+").describe("Registry name, used in self-metrics (`registry=\"...\"`)."),
    key_label: labelName.describe("The sample label whose value is looked up, e.g. `vin`."),
    key_field: z.string().min(1).optional().describe("Column (CSV, SQLite) or field (YAML) holding the key (default: key_label)."),
    file: filePath("CSV (.csv, header row) or YAML/JSON (.yaml, .yml, .json: a list of objects or a map key → object) file; reloaded when its mtime or size changes.").optional(),
    sqlite: z
      .strictObject({
        path: filePath("SQLite database file (opened read-only)."),
        table: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "must be a plain table name").describe("Table whose rows are the registry (`SELECT * FROM \"table\"`)."),
      })
      .optional()
      .describe("A SQLite table, re-read every reload_interval when the database changed; its rows win over the file's for the same key."),
    labels: z.array(labelName).optional().describe("Columns copied as labels (default: every column except the key)."),
    defaults: z.record(labelName, z.string().min(1)).default({}).describe("Labels set on a miss (the sample has key_label but the registry has no such key)."),
    override: z.boolean().default(false).describe("true: a registry label replaces a label the sample already has; false: the sample's own label wins."),
    reload_interval: duration("How often the file's mtime/size is checked and the SQLite table re-read (`0` = load once).").prefault("10s"),
    max_entries: z.number().int().positive().default(1_000_000).describe("A source with more rows is refused (the load fails; the previous data stays)."),
  })
  .refine((r) => r.file !== undefined || r.sqlite !== undefined, { message: "needs `file` or `sqlite` (or both)" })
  .describe("A device registry: labels from reference data keyed by a sample label.");

export type EnrichConfig = z.output<typeof enrichSchema>;
