/**
 * Compiles a Go RE2 regular expression (the syntax of Prometheus relabel
 * configs) into a fully anchored JavaScript RegExp, the way Prometheus does:
 * `regexp.Compile("^(?s:" + re + ")$")` (model/relabel NewRegexp), so `.`
 * matches a newline. Both engines pick the leftmost-first match, so groups
 * capture the same text.
 *
 * Translated RE2 syntax: `(?P<name>…)` → `(?<name>…)`; leading inline flags
 * `(?i)`, `(?s)`, `(?m)`, `(?is)` … (Node 20 has no inline modifiers, so they
 * are only accepted at the very start, where they apply to the whole pattern);
 * `\A` and `\z`; one-letter Unicode classes `\pL` → `\p{L}`; POSIX classes
 * `[[:alpha:]]` inside brackets. RE2 allows escaping any punctuation (`\-`,
 * `\:`), which JavaScript accepts only without the `u` flag, hence the fallback.
 */

export class Re2Error extends Error {
  constructor(pattern: string, detail: string) {
    super(`invalid regular expression ${JSON.stringify(pattern)}: ${detail}`);
    this.name = "Re2Error";
  }
}

const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z", alpha: "A-Za-z", ascii: "\\x00-\\x7F", blank: "\\t ", cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9", graph: "!-~", lower: "a-z", print: " -~", punct: "!-\\/:-@\\[-`{-~", space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z", word: "0-9A-Za-z_", xdigit: "0-9A-Fa-f",
};

function translate(pattern: string): { source: string; flags: string } {
  let src = pattern;
  let flags = "";
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    if (lead[1]!.includes("U")) throw new Re2Error(pattern, "the U (ungreedy) flag is not supported");
    for (const f of lead[1]!) if (!flags.includes(f)) flags += f;
    src = src.slice(lead[0].length);
  }
  let out = "";
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "\\") {
      const n = src[i + 1];
      if (n === undefined) throw new Re2Error(pattern, "trailing backslash at end of expression");
      if (!inClass && n === "A") out += "(?<![\\s\\S])";
      else if (!inClass && n === "z") out += "(?![\\s\\S])";
      else if ((n === "p" || n === "P") && src[i + 2] !== "{" && src[i + 2] !== undefined) {
        out += `\\${n}{${src[i + 2]}}`;
        i++;
      } else if (n === "Q" || n === "C" || n === "Z") throw new Re2Error(pattern, `\\${n} is not supported`);
      else out += c + n;
      i++;
      continue;
    }
    if (inClass) {
      if (c === "[" && src[i + 1] === ":") {
        const end = src.indexOf(":]", i + 2);
        const name = end < 0 ? "" : src.slice(i + 2, end);
        const neg = name.startsWith("^");
        const cls = POSIX[neg ? name.slice(1) : name];
        if (cls === undefined || neg) throw new Re2Error(pattern, `unsupported character class [:${name}:]`);
        out += cls;
        i = end + 1;
        continue;
      }
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal in RE2.
      if (src[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (src[i + 1] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(" && src.startsWith("(?P<", i)) {
      out += "(?<";
      i += 3;
      continue;
    }
    if (c === "(" && src[i + 1] === "?" && !/^\(\?(:|<[a-zA-Z_]|=|!)/.test(src.slice(i, i + 4))) {
      throw new Re2Error(pattern, "inline flags are only supported at the start of the expression");
    }
    out += c;
  }
  return { source: out, flags };
}

/** Anchored `^(?s:pattern)$`; throws Re2Error for a pattern neither RE2 nor we can compile. */
export function compileRe2(pattern: string): RegExp {
  const { source, flags: inline } = translate(pattern);
  let flags = "s";
  if (inline.includes("i")) flags += "i";
  if (inline.includes("m")) flags += "m";
  // With `m`, JavaScript's `^`/`$` would match at line breaks; RE2 scopes the flag to the group.
  const [open, close] = flags.includes("m") ? ["(?<![\\s\\S])(?:", ")(?![\\s\\S])"] : ["^(?:", ")$"];
  try {
    // Validate the pattern alone first, so `a)|(b` cannot escape the anchors.
    new RegExp(source, flags + "u");
    return new RegExp(open + source + close, flags + "u");
  } catch (unicodeErr) {
    if (/\\[pP]/.test(source)) throw new Re2Error(pattern, (unicodeErr as Error).message);
    try {
      new RegExp(source, flags);
      return new RegExp(open + source + close, flags);
    } catch (err) {
      throw new Re2Error(pattern, (err as Error).message);
    }
  }
}
