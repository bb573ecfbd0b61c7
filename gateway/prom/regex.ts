import { createRequire } from "node:module";
import type { RE2JS } from "re2js";

/**
 * The one regular-expression implementation of edgegate: RE2 syntax with
 * Prometheus's anchoring, used by relabel rules and series selectors alike.
 * Prometheus compiles every relabel regex and every `=~`/`!~` matcher as Go
 * RE2 `^(?s:re)$` (model/relabel NewRegexp, labels.NewFastRegexMatcher), so a
 * pattern copied from a Prometheus config means exactly what it means there.
 *
 * How a pattern is run, decided once per config:
 * 1. RE2 (re2js, the JavaScript port of RE2) parses `re` alone and then
 *    `^(?s:re)$`: what RE2 refuses is refused, with RE2's message; `a)|(b`
 *    cannot escape the anchors. (The shapes of step 2 have no syntax RE2
 *    could refuse: they need not load re2js at all.)
 * 2. Patterns Prometheus's FastRegexMatcher also special-cases need no engine
 *    for a yes/no test: `.*`, `.+`, a literal, `literal.*`, `a|b|c`.
 * 3. Otherwise the pattern is translated to a V8 RegExp (`u` + `s` flags) when
 *    the translation is exact; else it runs on re2js itself. Measured with
 *    bench/regex.ts (`npm run bench`, same run, exec() on 7 typical
 *    relabel/selector patterns): the V8 translation is 15× faster than re2js
 *    on the median pattern (3.6–46× across them), so the translation is the
 *    hot path and RE2 is the reference it is tested against
 *    (test/unit/prom-regex.test.ts compares both on generated patterns and
 *    inputs) and the engine for everything the translation cannot express.
 *
 * Not translated (run on re2js): inline flags other than a leading group
 * (`a(?i)b`, `(?i:b)`, `(?U)`; Node 20's RegExp has no modifiers), `\Q…\E`,
 * `\C`, octal escapes, named Unicode scripts (`\p{Greek}`), negated POSIX and
 * negated Perl classes inside brackets, `\b`/`\B` under `(?i)` (V8 folds
 * U+017F and U+212A into its word class, RE2 does not), and a quantified group
 * holding anything but plain atoms (`(a|b)+`, `(a*)*`, `()+`): V8 backtracks,
 * exponentially on such patterns, and reports other captures for empty
 * iterations than RE2 does. So a user's regex can never hang the gateway.
 */

/** A pattern RE2 refuses (or an anchoring it would escape); the message quotes the pattern. */
export class Re2Error extends Error {
  constructor(pattern: string, detail: string) {
    super(`invalid regular expression ${JSON.stringify(pattern)}: ${detail}`);
    this.name = "Re2Error";
  }
}

/** A successful match: `[0]` the whole input, `[i]` group i (undefined when it did not take part), named groups. */
export interface RegexMatch {
  readonly [index: number]: string | undefined;
  readonly length: number;
  readonly groups?: Record<string, string | undefined> | undefined;
}

/** How `test` runs: most real-world patterns need no regex engine at all. */
const enum Kind { Any, NonEmpty, Literal, Prefix, Set, V8, Re2 }

/** A compiled, fully anchored RE2 pattern (fixed shape: one per rule or matcher, run per sample). */
export class PromRegex {
  readonly source: string;
  /** Which engine `exec` uses: "v8" (exact translation) or "re2" (re2js). */
  readonly engine: "v8" | "re2";
  private readonly kind: Kind;
  private readonly literal: string;
  private readonly set: Set<string> | null;
  private readonly v8: RegExp | null;
  private readonly re2: RE2JS | null;

  constructor(pattern: string) {
    this.source = pattern;
    this.set = null;
    this.literal = "";
    let kind: Kind | null = null;
    if (pattern === ".*") kind = Kind.Any;
    else if (pattern === ".+") kind = Kind.NonEmpty;
    else if (PLAIN.test(pattern)) {
      kind = Kind.Literal;
      this.literal = pattern;
    } else if (pattern.endsWith(".*") && PLAIN.test(pattern.slice(0, -2))) {
      kind = Kind.Prefix;
      this.literal = pattern.slice(0, -2);
    } else if (pattern.split("|").every((alt) => PLAIN.test(alt))) {
      kind = Kind.Set;
      this.set = new Set(pattern.split("|"));
    }
    // These shapes (`.*`, `.+`, a literal, `literal.*`, `a|b|c`) hold no syntax RE2 could refuse, in
    // `re` or in `^(?s:re)$`, so RE2 (re2js) need not be loaded to accept them. Anything else RE2 checks.
    let re2 = kind === null ? compileRe2(pattern) : null;
    const v8 = translate(pattern);
    // exec() runs the translation; were one of the simple shapes ever not translated, RE2 runs it.
    if (v8 === null) re2 ??= compileRe2(pattern);
    this.engine = v8 === null ? "re2" : "v8";
    this.v8 = v8;
    this.re2 = v8 === null ? re2 : null;
    this.kind = kind ?? (v8 === null ? Kind.Re2 : Kind.V8);
  }

  /** Does the whole of `s` match? */
  test(s: string): boolean {
    switch (this.kind) {
      case Kind.Any: return true;
      case Kind.NonEmpty: return s.length > 0;
      case Kind.Literal: return s === this.literal;
      case Kind.Prefix: return s.startsWith(this.literal);
      case Kind.Set: return this.set!.has(s);
      case Kind.V8: return this.v8!.test(s);
      default: return this.re2!.test(s);
    }
  }

  /** The match of the whole of `s` with its groups, or null. */
  exec(s: string): RegexMatch | null {
    if (this.v8 !== null) return this.v8.exec(s);
    const m = this.re2!.exec(s) as (string | null | undefined)[] & { groups?: Record<string, string | null | undefined> } | null;
    if (m === null) return null;
    // re2js reports a group that did not take part as null; RegExp (and Go's Expand) as absent.
    const groups: (string | undefined)[] & { groups?: Record<string, string | undefined> } = m.map((g) => g ?? undefined);
    if (m.groups !== undefined) {
      const named: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
      for (const [k, v] of Object.entries(m.groups)) named[k] = v ?? undefined;
      groups.groups = named;
    }
    return groups;
  }
}

/** Compiles `pattern` as Prometheus does (`^(?s:pattern)$`, RE2 syntax); throws Re2Error. */
export function compileRegex(pattern: string): PromRegex {
  return new PromRegex(pattern);
}

// re2js (~0.26 MB of source) loads with the first pattern that has regex syntax beyond the simple
// shapes above, synchronously through its CommonJS build: a config whose selectors and relabel
// rules use only those shapes never loads it.
let re2Class: typeof RE2JS | undefined;
function re2js(): typeof RE2JS {
  return (re2Class ??= (createRequire(import.meta.url)("re2js") as typeof import("re2js")).RE2JS);
}

/** RE2's verdict on `pattern` and `^(?s:pattern)$`: the anchored program, or Re2Error with RE2's message. */
function compileRe2(pattern: string): RE2JS {
  const RE2 = re2js();
  try {
    RE2.compile(pattern);
    return RE2.compile(`^(?s:${pattern})$`);
  } catch (err) {
    throw new Re2Error(pattern, re2Message(err));
  }
}

/** No regex syntax at all: the pattern is its own literal. */
const PLAIN = /^[^\\.+*?()|[\]{}^$]*$/;

function re2Message(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^error parsing regexp: /, "");
}

const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z", alpha: "A-Za-z", ascii: "\\x00-\\x7F", blank: "\\t ", cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9", graph: "!-~", lower: "a-z", print: " -~", punct: "!-\\/:-@\\[-`{-~", space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z", word: "0-9A-Za-z_", xdigit: "0-9A-Fa-f",
};

/** RE2's Perl classes are ASCII (`\s` has no `\v` and no Unicode spaces, unlike JavaScript's). */
const PERL: Record<string, string> = { d: "0-9", s: "\\t\\n\\f\\r ", w: "0-9A-Za-z_" };

/** Characters JavaScript's `u` mode lets a backslash escape. */
const JS_SYNTAX = new Set("^$\\.*+?()[]{}|/-");

/** Escapes with the same meaning in both. */
const SAME_ESCAPE = new Set("fnrtv");

/** Thrown inside `translate` for syntax RE2 accepts but V8 cannot express exactly. */
class Untranslatable extends Error {}

function hexEscape(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

/**
 * One escape `\x…` at `src[i] === "\\"`, for inside a class (`inClass`) or
 * outside; returns the JavaScript text and the index after the escape.
 */
function escape(src: string, i: number, inClass: boolean, fold: boolean): [string, number] {
  const n = src[i + 1]!;
  if (PERL[n] !== undefined) return [inClass ? PERL[n] : `[${PERL[n]}]`, i + 2];
  if (PERL[n.toLowerCase()] !== undefined) {
    if (inClass) throw new Untranslatable();
    return [`[^${PERL[n.toLowerCase()]}]`, i + 2];
  }
  if (SAME_ESCAPE.has(n)) return ["\\" + n, i + 2];
  if (n === "a") return ["\\x07", i + 2];
  if (n === "x") {
    if (src[i + 2] === "{") {
      const end = src.indexOf("}", i + 3);
      return [hexEscape(parseInt(src.slice(i + 3, end), 16)), end + 1];
    }
    return [`\\x${src.slice(i + 2, i + 4)}`, i + 4];
  }
  if (n === "p" || n === "P") {
    let name: string;
    let next: number;
    if (src[i + 2] === "{") {
      const end = src.indexOf("}", i + 3);
      name = src.slice(i + 3, end);
      next = end + 1;
    } else {
      name = src[i + 2]!;
      next = i + 3;
    }
    let neg = n === "P";
    if (name.startsWith("^")) {
      neg = !neg;
      name = name.slice(1);
    }
    // General categories only (`L`, `Lu`, `N`…); scripts are named differently in JavaScript.
    if (!/^[A-Z][a-z]?$/.test(name) || fold) throw new Untranslatable();
    return [`\\${neg ? "P" : "p"}{${name}}`, next];
  }
  if (!inClass && (n === "A" || n === "z")) return [n === "A" ? "(?<![\\s\\S])" : "(?![\\s\\S])", i + 2];
  if (!inClass && (n === "b" || n === "B")) {
    if (fold) throw new Untranslatable();
    return ["\\" + n, i + 2];
  }
  const cp = n.codePointAt(0)!;
  if (/[0-9A-Za-z]/.test(n)) throw new Untranslatable(); // \Q…\E, \C, octal: rare, left to RE2
  // RE2 lets a backslash quote any punctuation; JavaScript's `u` mode only its syntax characters.
  return [JS_SYNTAX.has(n) ? "\\" + n : hexEscape(cp), i + 1 + n.length];
}

/** `{n}`, `{n,}`, `{n,m}` at `src[i] === "{"`: its length, or 0 when RE2 reads the brace as a literal. */
function repeatLength(src: string, i: number): number {
  const m = /^\{[0-9]+(,[0-9]*)?\}/.exec(src.slice(i));
  return m === null ? 0 : m[0].length;
}

/** A bracket expression `[…]` at `src[i] === "["`: its JavaScript text and the index after it. */
function bracket(src: string, i: number, fold: boolean): [string, number] {
  let j = i + 1;
  let out = "[";
  if (src[j] === "^") {
    out += "^";
    j++;
  }
  // A `]` right after `[` or `[^` is a literal in RE2.
  if (src[j] === "]") {
    out += "\\]";
    j++;
  }
  while (src[j] !== "]") {
    const d = src[j]!;
    if (d === "\\") {
      const [js, next] = escape(src, j, true, fold);
      out += js;
      j = next;
    } else if (d === "[" && src[j + 1] === ":") {
      const end = src.indexOf(":]", j + 2);
      const cls = POSIX[src.slice(j + 2, end)];
      if (cls === undefined) throw new Untranslatable(); // [[:^alpha:]]
      out += cls;
      j = end + 2;
    } else if (d === "[") {
      out += "\\[";
      j++;
    } else {
      const ch = String.fromCodePoint(src.codePointAt(j)!);
      out += ch;
      j += ch.length;
    }
  }
  return [out + "]", j + 1];
}

/**
 * The V8 RegExp with RE2's meaning of `^(?s:pattern)$`, or null when that
 * cannot be written exactly (see the module comment). Runs on a pattern RE2
 * has already accepted, so it need not diagnose errors.
 */
function translate(pattern: string): RegExp | null {
  let src = pattern;
  let flags = "su";
  let multiline = false;
  const lead = /^\(\?([ims]+)\)/.exec(src);
  if (lead) {
    if (lead[1]!.includes("i")) flags += "i";
    multiline = lead[1]!.includes("m");
    src = src.slice(lead[0].length);
  }
  const fold = flags.includes("i");
  try {
    let out = "";
    // Per open group: where its text starts in `out`, and whether it holds more than plain atoms.
    const groups: { complex: boolean }[] = [];
    let lastGroupComplex = false;
    let afterGroup = false;
    const markComplex = (): void => {
      for (const g of groups) g.complex = true;
    };
    for (let i = 0; i < src.length; ) {
      const c = src[i]!;
      const wasAfterGroup = afterGroup;
      afterGroup = false;
      if (c === "\\") {
        const [js, next] = escape(src, i, false, fold);
        if (js.startsWith("(?")) markComplex();
        out += js;
        i = next;
        continue;
      }
      if (c === "[") {
        const [js, next] = bracket(src, i, fold);
        out += js;
        i = next;
        continue;
      }
      if (c === "(") {
        if (src[i + 1] === "?") {
          const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(src.slice(i));
          if (named !== null) {
            out += `(?<${named[1]}>`;
            i += named[0].length;
          } else if (src.startsWith("(?:", i)) {
            out += "(?:";
            i += 3;
          } else throw new Untranslatable(); // inline flags, or a group name JavaScript refuses
        } else {
          out += "(";
          i++;
        }
        groups.push({ complex: false });
        continue;
      }
      if (c === ")") {
        const g = groups.pop()!;
        // An empty group can match empty: not a plain atom when quantified.
        lastGroupComplex = g.complex || out.endsWith("(") || out.endsWith(":") || out.endsWith(">");
        out += ")";
        i++;
        afterGroup = true;
        continue;
      }
      if (c === "*" || c === "+" || c === "?" || (c === "{" && repeatLength(src, i) > 0)) {
        if (wasAfterGroup && lastGroupComplex) throw new Untranslatable();
        const len = c === "{" ? repeatLength(src, i) : 1;
        out += src.slice(i, i + len);
        i += len;
        if (src[i] === "?") {
          out += "?";
          i++;
        }
        markComplex();
        continue;
      }
      if (c === "|" || c === "^" || c === "$") {
        markComplex();
        // Under (?m) RE2's line anchors see only `\n` (JavaScript's `m` also \r, U+2028, U+2029).
        out += c === "|" || !multiline ? c : c === "^" ? "(?<![^\n])" : "(?![^\n])";
        i++;
        continue;
      }
      if (c === "{" || c === "}" || c === "]") {
        out += "\\" + c;
        i++;
        continue;
      }
      const ch = String.fromCodePoint(src.codePointAt(i)!);
      out += ch;
      i += ch.length;
    }
    return new RegExp(`^(?:${out})$`, flags);
  } catch (err) {
    if (err instanceof Untranslatable) return null;
    // A translation V8 refuses is a gap in this function, not in the user's pattern: RE2 runs it.
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}
