/**
 * A `$1` / `${name}` template, expanded exactly like Go's Regexp.Expand
 * (Prometheus relabelling uses Regexp.ExpandString):
 * - `$$` is a literal `$`;
 * - `$name` takes the longest run of letters, digits and `_`, so `$1x` is the
 *   group named `1x` (which does not exist → "");
 * - `${name}` delimits the name;
 * - a name of digits (no leading zero) is a group number, else a group name;
 *   an unknown or unmatched group expands to "";
 * - a `$` not followed by a valid name (`$`, `${`, `$-`) is kept literally.
 * Parsed once per config into parts, so expansion per sample is a join.
 */

import type { RegexMatch } from "./regex.js";

type Part = string | { group: number } | { name: string };

export interface Template {
  readonly parts: readonly Part[];
  /** No `$` reference at all: the template is its own value. */
  readonly literal: string | null;
}

const NAME_CHAR = /[\p{L}\p{Nd}_]/u;

function extract(str: string): { name: string; rest: string } | null {
  let s = str;
  const brace = s.startsWith("{");
  if (brace) s = s.slice(1);
  let i = 0;
  while (i < s.length) {
    const ch = String.fromCodePoint(s.codePointAt(i)!);
    if (!NAME_CHAR.test(ch)) break;
    i += ch.length;
  }
  if (i === 0) return null;
  const name = s.slice(0, i);
  if (brace) {
    if (s[i] !== "}") return null;
    i++;
  }
  return { name, rest: s.slice(i) };
}

function groupNumber(name: string): number {
  // Go: digits only, below 1e8, no leading zero.
  if (!/^[0-9]+$/.test(name) || (name.length > 1 && name[0] === "0") || name.length > 8) return -1;
  return Number(name);
}

export function parseTemplate(template: string): Template {
  const parts: Part[] = [];
  let lit = "";
  let rest = template;
  for (;;) {
    const at = rest.indexOf("$");
    if (at < 0) break;
    lit += rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (rest.startsWith("$")) {
      lit += "$";
      rest = rest.slice(1);
      continue;
    }
    const ref = extract(rest);
    if (ref === null) {
      lit += "$";
      continue;
    }
    rest = ref.rest;
    if (lit !== "") parts.push(lit);
    lit = "";
    const num = groupNumber(ref.name);
    parts.push(num >= 0 ? { group: num } : { name: ref.name });
  }
  lit += rest;
  if (lit !== "") parts.push(lit);
  const literal = parts.every((p) => typeof p === "string") ? parts.join("") : null;
  return { parts, literal };
}

/** Expands against a match of the regex the template belongs to. */
export function expandTemplate(t: Template, m: RegexMatch): string {
  if (t.literal !== null) return t.literal;
  let out = "";
  for (const p of t.parts) {
    if (typeof p === "string") out += p;
    else if ("group" in p) out += m[p.group] ?? "";
    else out += m.groups?.[p.name] ?? "";
  }
  return out;
}
