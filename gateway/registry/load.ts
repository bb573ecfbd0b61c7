import { readFileSync } from "node:fs";
import { extname } from "node:path";
import Database from "better-sqlite3";
import { createRequire } from "node:module";
import { parseCsv } from "./csv.js";

/** A registry's data: key → column → value (string). */
export type Rows = Map<string, Record<string, string>>;

function cell(v: unknown): string | null {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return null;
}

/** Adds one record; throws on a record without a key or with a non-scalar value. */
function addRecord(rows: Rows, rec: Record<string, unknown>, keyField: string, where: string, maxEntries: number): void {
  const key = cell(rec[keyField]);
  if (key === null || key === "") throw new Error(`${where}: no value for key field ${JSON.stringify(keyField)}`);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [col, v] of Object.entries(rec)) {
    const s = cell(v);
    if (s === null) throw new Error(`${where}: field ${JSON.stringify(col)} is not a scalar`);
    out[col] = s;
  }
  rows.set(key, out);
  if (rows.size > maxEntries) throw new Error(`more than max_entries (${maxEntries}) rows`);
}

export function loadCsvText(text: string, keyField: string, maxEntries: number): Rows {
  const table = parseCsv(text);
  const header = table[0];
  if (header === undefined) throw new Error("empty CSV file (a header row is required)");
  if (!header.includes(keyField)) throw new Error(`the header has no key column ${JSON.stringify(keyField)} (columns: ${header.join(", ")})`);
  const rows: Rows = new Map();
  for (let r = 1; r < table.length; r++) {
    const fields = table[r]!;
    if (fields.length !== header.length) throw new Error(`record ${r + 1}: ${fields.length} fields, the header has ${header.length}`);
    const rec: Record<string, string> = {};
    header.forEach((h, i) => (rec[h] = fields[i]!));
    addRecord(rows, rec, keyField, `record ${r + 1}`, maxEntries);
  }
  return rows;
}

export function loadYamlText(text: string, keyField: string, maxEntries: number): Rows {
  // Loaded on first use: a gateway without a YAML registry does not need the YAML parser in memory.
  const { parse: parseYaml } = createRequire(import.meta.url)("yaml") as typeof import("yaml");
  const doc: unknown = parseYaml(text);
  const rows: Rows = new Map();
  if (doc === null || doc === undefined) return rows;
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  if (Array.isArray(doc)) {
    doc.forEach((item, i) => {
      if (!isObj(item)) throw new Error(`item ${i}: not a mapping`);
      addRecord(rows, item, keyField, `item ${i}`, maxEntries);
    });
  } else if (isObj(doc)) {
    // key → {column: value}
    for (const [key, item] of Object.entries(doc)) {
      if (!isObj(item)) throw new Error(`${JSON.stringify(key)}: not a mapping`);
      addRecord(rows, { ...item, [keyField]: key }, keyField, JSON.stringify(key), maxEntries);
    }
  } else {
    throw new Error("must be a list of mappings or a mapping from key to mapping");
  }
  return rows;
}

export function loadFile(path: string, keyField: string, maxEntries: number): Rows {
  const text = readFileSync(path, "utf8");
  const ext = extname(path).toLowerCase();
  try {
    if (ext === ".csv") return loadCsvText(text, keyField, maxEntries);
    if (ext === ".yaml" || ext === ".yml" || ext === ".json") return loadYamlText(text, keyField, maxEntries);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  throw new Error(`${path}: unknown registry file type ${JSON.stringify(ext)} (use .csv, .yaml, .yml or .json)`);
}

/** Reads a whole SQLite table through `db` (opened read-only by the caller). */
export function loadSqliteTable(db: Database.Database, table: string, keyField: string, maxEntries: number): Rows {
  const rows: Rows = new Map();
  const stmt = db.prepare(`SELECT * FROM "${table}"`);
  let n = 0;
  for (const rec of stmt.iterate() as Iterable<Record<string, unknown>>) {
    n++;
    if (!(keyField in rec)) throw new Error(`${db.name}: table ${table} has no key column ${JSON.stringify(keyField)}`);
    addRecord(rows, rec, keyField, `${db.name}: table ${table} row ${n}`, maxEntries);
  }
  return rows;
}

export function openSqlite(path: string): Database.Database {
  return new Database(path, { readonly: true, fileMustExist: true });
}
