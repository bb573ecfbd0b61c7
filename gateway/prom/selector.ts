import { createRequire } from "node:module";
import type { parser as PromqlParser } from "@prometheus-io/lezer-promql";
import { compileRegex, type PromRegex } from "./regex.js";
import type { Labels } from "./sample.js";

/** A node of the lezer syntax tree (typed through the parser, so @lezer/common need not be a direct dependency). */
type SyntaxNode = ReturnType<typeof PromqlParser.parse>["topNode"];

// The PromQL grammar and lezer (~0.4 MB of source plus parse tables) load with the first selector
// this thread parses, synchronously through the packages' CommonJS builds. The gateway's own
// thread usually parses none: the config loader's thread hands its selectors over already parsed
// (preparseSelectors / adoptParsedSelectors).
let promql: typeof PromqlParser | undefined;
function promqlParser(): typeof PromqlParser {
  return (promql ??= (createRequire(import.meta.url)("@prometheus-io/lezer-promql") as typeof import("@prometheus-io/lezer-promql")).parser);
}

/**
 * Prometheus series selectors (`metric{label op "value", ...}`), parsed with
 * Prometheus's own lezer grammar (@prometheus-io/lezer-promql, the parser of
 * the Prometheus UI) and compiled once into a predicate over a label set.
 *
 * Semantics follow Prometheus (promql/parser + model/labels/matcher.go):
 * - a label absent from a series has the value "" (`{foo=""}` matches series
 *   without foo, `{foo=~".*"}` matches every series);
 * - regexes are RE2, fully anchored and `.` matches newlines: Prometheus
 *   compiles `^(?s:re)$` (labels.NewFastRegexMatcher), as relabelling does;
 *   both use the one implementation in regex.ts;
 * - strings are unquoted as PromQL's lexer does (Go `strconv.Unquote` rules
 *   for "double" and 'single' quotes, `backticks` raw).
 *
 * Unlike a PromQL query, a selector that matches every series (`{}`,
 * `{foo=~".*"}`) is accepted: in a config it means "everything".
 */

export type Matcher = (labels: Labels) => boolean;

/** A selector that cannot be compiled; `position` is the 1-based column of the problem. */
export class SelectorError extends Error {
  readonly position: number;
  constructor(selector: string, position: number, detail: string) {
    super(`invalid series selector '${selector}' at column ${position}: ${detail}`);
    this.name = "SelectorError";
    this.position = position;
  }
}

/** Match operators, cheapest first (matchers are sorted by it). */
const enum Op { Eq, Neq, Re, Nre }

/** Fixed-shape compiled matcher (hot path: one per label matcher, evaluated per sample). */
interface LabelMatcher {
  name: string;
  op: Op;
  value: string;
  re: PromRegex | null;
}

function matchesAll(matchers: LabelMatcher[], labels: Labels): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i]!;
    // Absent label = empty string (Prometheus data model). `typeof` also keeps inherited
    // members out: `labels["constructor"]` is a function on a plain object.
    const own = labels[m.name];
    const v = typeof own === "string" ? own : "";
    const ok = m.op === Op.Eq ? v === m.value : m.op === Op.Neq ? v !== m.value : m.re!.test(v) === (m.op === Op.Re);
    if (!ok) return false;
  }
  return true;
}

/**
 * One label matcher as the parser found it (plain data: it crosses a thread
 * boundary unchanged); `at` is the offset of its value in the selector text.
 */
export interface ParsedMatcher {
  name: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
  at: number;
}

/** Selectors the config loader's thread parsed (and whose regexes RE2 accepted there), by text. */
let parsedElsewhere = new Map<string, readonly ParsedMatcher[]>();

/**
 * Parses each selector and checks its regexes, for the config loader's
 * thread to hand over: the texts that compile, with their matchers. One that
 * does not is left out, so compiling it where it is used reports the error
 * as it always does.
 */
export function preparseSelectors(texts: Iterable<string>): Record<string, ParsedMatcher[]> {
  const out: Record<string, ParsedMatcher[]> = {};
  for (const text of texts) {
    try {
      out[text] = parseSelector(text).map(({ name, op, value, at }) => ({ name, op, value, at }));
    } catch {
      // Reported by compileSelector where the selector is used.
    }
  }
  return out;
}

/**
 * Takes the config loader's preparseSelectors result: compileSelector then
 * needs no parser for these texts. Replaces what an earlier load handed over
 * (a reload compiles the new config's selectors right after its load).
 */
export function adoptParsedSelectors(parsed: Record<string, ParsedMatcher[]>): void {
  parsedElsewhere = new Map(Object.entries(parsed));
}

/** Compiles one selector, e.g. `{__name__=~"vehicle_.*", fleet!="x"}` or `vehicle_speed_kmh{fleet="a"}`. */
export function compileSelector(text: string): Matcher {
  const matchers = (parsedElsewhere.get(text) ?? parseSelector(text)).map((m) => toLabelMatcher(text, m));
  // Cheap equality tests first: they reject most series before any regex runs.
  matchers.sort((a, b) => a.op - b.op);
  return (labels) => matchesAll(matchers, labels);
}

const OPS: Record<ParsedMatcher["op"], Op> = { "=": Op.Eq, "!=": Op.Neq, "=~": Op.Re, "!~": Op.Nre };

/** A parsed matcher with its regex compiled (by the parser, so a bad regex is reported in text order among the other errors). */
type ParsedWithRegex = ParsedMatcher & { re?: PromRegex };

function toLabelMatcher(text: string, m: ParsedWithRegex): LabelMatcher {
  const op = OPS[m.op];
  return { name: m.name, op, value: m.value, re: op === Op.Eq || op === Op.Neq ? null : (m.re ?? regexAt(text, m.value, m.at)) };
}

function regexAt(text: string, pattern: string, at: number): PromRegex {
  try {
    return compileRegex(pattern);
  } catch (err) {
    throw new SelectorError(text, at + 1, (err as Error).message);
  }
}

/** Compiles one or several selectors; the result matches a series if any of them does. */
export function compileSelectors(texts: string | string[]): Matcher {
  if (typeof texts === "string") return compileSelector(texts);
  const list = texts.map(compileSelector);
  if (list.length === 1) return list[0]!;
  return (labels) => {
    for (let i = 0; i < list.length; i++) if (list[i]!(labels)) return true;
    return false;
  };
}

// ---------------------------------------------------------------- parsing

const EXPR_DESCRIPTIONS: Record<string, string> = {
  AggregateExpr: "an aggregation",
  BinaryExpr: "a binary operator",
  FunctionCall: "a function call",
  MatrixSelector: "a range ([...])",
  NumberDurationLiteral: "a number",
  OffsetExpr: "an offset modifier",
  AnchoredExpr: "an anchored modifier",
  SmoothedExpr: "a smoothed modifier",
  ParenExpr: "parentheses",
  StringLiteral: "a string",
  SubqueryExpr: "a subquery",
  UnaryExpr: "a unary operator",
  StepInvariantExpr: "an @ modifier",
};

function parseSelector(text: string): ParsedWithRegex[] {
  const fail = (offset: number, detail: string): never => {
    throw new SelectorError(text, offset + 1, detail);
  };
  const tree = promqlParser().parse(text);

  // Syntax errors and unterminated strings (the grammar's StringLiteral token
  // accepts a missing closing quote), whichever comes first in the text.
  tree.iterate({
    enter(n) {
      if (n.type.isError) {
        if (n.from >= text.length) fail(n.from, "unexpected end of input");
        const bad = n.to > n.from ? text.slice(n.from, Math.min(n.to, n.from + 20)) : text.charAt(n.from);
        fail(n.from, `unexpected ${JSON.stringify(bad)}`);
      }
      if (n.name === "StringLiteral") unquote(text, n.from, n.to, fail);
      return true;
    },
  });

  const top = significantChildren(tree.topNode);
  const expr = top[0];
  if (expr === undefined) return fail(0, "empty selector");
  if (expr.name !== "VectorSelector") {
    const [node, offset] = firstDeviation(text, expr);
    const what = EXPR_DESCRIPTIONS[node.name] ?? `"${node.name}"`;
    return fail(offset, `only a series selector is allowed, found ${what}`);
  }

  const matchers: ParsedWithRegex[] = [];
  let nameSetAt = -1;
  const setName = (offset: number, value: string): void => {
    if (nameSetAt >= 0) fail(offset, "metric name set twice");
    nameSetAt = offset;
    matchers.push({ name: "__name__", op: "=", value, at: offset });
  };
  for (const part of significantChildren(expr)) {
    if (part.name === "Identifier") {
      setName(part.from, text.slice(part.from, part.to));
      continue;
    }
    // LabelMatchers: `{ m, m, ... }`
    for (const m of significantChildren(part)) {
      const [nameNode, opNode, valueNode] = significantChildren(m);
      if (m.name === "QuotedLabelName") {
        // `{"metric.name"}`: Prometheus 3 UTF-8 syntax for the metric name.
        setName(m.from, unquote(text, m.from, m.to, fail));
        continue;
      }
      if (!nameNode || !opNode || !valueNode) return fail(m.from, "incomplete label matcher");
      const name =
        nameNode.name === "LabelName" ? text.slice(nameNode.from, nameNode.to) : unquote(text, nameNode.from, nameNode.to, fail);
      const opText = text.slice(opNode.from, opNode.to);
      const value = unquote(text, valueNode.from, valueNode.to, fail);
      if (name === "__name__" && opText === "=") {
        setName(nameNode.from, value);
        continue;
      }
      if (opText !== "=" && opText !== "!=" && opText !== "=~" && opText !== "!~") return fail(valueNode.from, `unknown match operator ${JSON.stringify(opText)}`);
      const at = valueNode.from;
      matchers.push(opText === "=~" || opText === "!~" ? { name, op: opText, value, at, re: regexAt(text, value, at) } : { name, op: opText, value, at });
    }
  }
  return matchers;
}

/** Children of a node without comments (the grammar keeps `# ...` comments in the tree). */
function significantChildren(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c !== null; c = c.nextSibling) if (c.name !== "LineComment") out.push(c);
  return out;
}

/**
 * The innermost expression wrapping the selector and where it starts to
 * differ from a bare selector: `x offset 5m` → `offset`; `x[5m] offset 1m` →
 * `[`; `rate(x)` → `rate`.
 */
function firstDeviation(text: string, expr: SyntaxNode): [SyntaxNode, number] {
  let node = expr;
  for (;;) {
    const first = node.firstChild;
    if (first === null || first.from !== node.from) return [node, node.from];
    if (first.name === "VectorSelector") {
      let i = first.to;
      while (i < text.length && /\s/.test(text.charAt(i))) i++;
      return [node, i];
    }
    if (EXPR_DESCRIPTIONS[first.name] === undefined) return [node, node.from];
    node = first;
  }
}

// ---------------------------------------------------------------- strings

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92 };
const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Unquotes a PromQL string literal `text[from, to)` as Prometheus does
 * (util/strutil.Unquote, Go's strconv.Unquote extended to multi-character
 * single-quoted strings): backticks are raw; in "..." and '...' the escapes
 * are \a \b \f \n \r \t \v \\, the enclosing quote, \xHH and \OOO (bytes),
 * \uHHHH and \UHHHHHHHH (code points). Anything else is an error.
 */
function unquote(text: string, from: number, to: number, fail: (o: number, d: string) => never): string {
  const q = text.charAt(from);
  if (q === "`") {
    if (to - from < 2 || text.charAt(to - 1) !== "`") fail(from, "unterminated raw string");
    return text.slice(from + 1, to - 1);
  }
  const bytes: number[] = [];
  let i = from + 1;
  for (;;) {
    if (i >= to) return fail(from, "unterminated quoted string");
    const ch = String.fromCodePoint(text.codePointAt(i)!);
    if (ch === q) {
      if (i !== to - 1) return fail(i, "unexpected quote");
      break;
    }
    if (ch === "\n") return fail(i, "newline in quoted string");
    if (ch !== "\\") {
      bytes.push(...utf8Encoder.encode(ch));
      i += ch.length;
      continue;
    }
    const e = text.charAt(i + 1);
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      bytes.push(simple);
      i += 2;
    } else if (e === q) {
      bytes.push(q.charCodeAt(0));
      i += 2;
    } else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const digits = text.slice(i + 2, i + 2 + n);
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== n) return fail(i, `invalid escape sequence \\${e}${digits}`);
      const v = parseInt(digits, 16);
      if (e === "x") bytes.push(v);
      else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return fail(i, `invalid Unicode code point \\${e}${digits}`);
      else bytes.push(...utf8Encoder.encode(String.fromCodePoint(v)));
      i += 2 + n;
    } else if (e >= "0" && e <= "7") {
      const digits = text.slice(i + 1, i + 4);
      const v = parseInt(digits, 8);
      if (!/^[0-7]{3}$/.test(digits) || v > 255) return fail(i, `invalid octal escape \\${digits}`);
      bytes.push(v);
      i += 4;
    } else {
      return fail(i, `unknown escape sequence \\${e}`);
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return fail(from, "string is not valid UTF-8");
  }
}
