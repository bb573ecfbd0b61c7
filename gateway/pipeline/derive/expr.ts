/**
 * The derive expression language: a small, safe language parsed once at
 * config load into a tree of closures (never `eval`).
 *
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | cmp
 *   cmp     := add (("=="|"!="|"<"|"<="|">"|">=") add)?
 *   add     := mul (("+"|"-") mul)*
 *   mul     := unary (("*"|"/"|"%") unary)*
 *   unary   := "-" unary | "+" unary | primary
 *   primary := number | "true" | "false" | signal | func "(" or ("," or)* ")" | "(" or ")"
 *
 * Booleans are numbers: comparisons and and/or/not give 1 or 0; 0 is false.
 * `and`, `or` and `if` are lazy, so a signal in a branch not taken need not exist.
 * Evaluation never throws: a missing signal or a division by zero sets
 * `ctx.error` and yields NaN, which the caller turns into a counted skip.
 */

export class ExprError extends Error {
  /** 1-based column of the problem. */
  readonly position: number;
  constructor(position: number, detail: string) {
    super(`column ${position}: ${detail}`);
    this.name = "ExprError";
    this.position = position;
  }
}

export const EVAL_OK = 0;
export const EVAL_MISSING_SIGNAL = 1;
export const EVAL_DIVISION_BY_ZERO = 2;

export interface EvalContext {
  /** Value of each signal, indexed like `CompiledExpr.signals`; undefined = absent from the message. */
  values: (number | undefined)[];
  error: number;
}

type Fn = (ctx: EvalContext) => number;

export interface CompiledExpr {
  /** Distinct signal names, in order of first appearance. */
  readonly signals: readonly string[];
  readonly evaluate: Fn;
}

type Tok = { kind: "num"; value: number; pos: number } | { kind: "id"; text: string; pos: number } | { kind: "op"; text: string; pos: number } | { kind: "end"; pos: number };

const OPS = ["==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ","];
const NUM_RE = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/;
const ID_RE = /^[a-zA-Z_][a-zA-Z0-9_:]*/;

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const rest = src.slice(i);
    const num = NUM_RE.exec(rest);
    if (num) {
      toks.push({ kind: "num", value: Number(num[0]), pos: i + 1 });
      i += num[0].length;
      continue;
    }
    const id = ID_RE.exec(rest);
    if (id) {
      toks.push({ kind: "id", text: id[0], pos: i + 1 });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => rest.startsWith(o));
    if (op === undefined) {
      const hint = c === "=" ? " (use == to compare)" : c === "&" || c === "|" || c === "!" ? " (use and, or, not)" : "";
      throw new ExprError(i + 1, `unexpected character ${JSON.stringify(c)}${hint}`);
    }
    toks.push({ kind: "op", text: op, pos: i + 1 });
    i += op.length;
  }
  toks.push({ kind: "end", pos: src.length + 1 });
  return toks;
}

const KEYWORDS = new Set(["and", "or", "not", "true", "false"]);
const ARITY: Record<string, [number, number]> = { abs: [1, 1], min: [2, Infinity], max: [2, Infinity], clamp: [3, 3], if: [3, 3] };

const bool = (b: boolean): number => (b ? 1 : 0);

function fail(ctx: EvalContext, code: number): number {
  if (ctx.error === EVAL_OK) ctx.error = code;
  return NaN;
}

class Parser {
  private i = 0;
  readonly signals: string[] = [];

  constructor(private readonly toks: Tok[]) {}

  parse(): Fn {
    const fn = this.or();
    const t = this.peek();
    if (t.kind !== "end") throw new ExprError(t.pos, `unexpected ${describe(t)}`);
    return fn;
  }

  private peek(): Tok {
    return this.toks[this.i]!;
  }

  private isOp(text: string): boolean {
    const t = this.peek();
    return (t.kind === "op" && t.text === text) || (t.kind === "id" && t.text === text && KEYWORDS.has(text));
  }

  private expect(text: string): void {
    const t = this.peek();
    if (!this.isOp(text)) throw new ExprError(t.pos, `expected "${text}", found ${describe(t)}`);
    this.i++;
  }

  private or(): Fn {
    let left = this.and();
    while (this.isOp("or")) {
      this.i++;
      const l = left, r = this.and();
      left = (c) => { const a = l(c); if (c.error) return NaN; return a !== 0 ? 1 : bool(r(c) !== 0); };
    }
    return left;
  }

  private and(): Fn {
    let left = this.not();
    while (this.isOp("and")) {
      this.i++;
      const l = left, r = this.not();
      left = (c) => { const a = l(c); if (c.error) return NaN; return a === 0 ? 0 : bool(r(c) !== 0); };
    }
    return left;
  }

  private not(): Fn {
    if (this.isOp("not")) {
      this.i++;
      const x = this.not();
      return (c) => bool(x(c) === 0);
    }
    return this.cmp();
  }

  private cmp(): Fn {
    const l = this.add();
    const t = this.peek();
    if (t.kind !== "op" || !["==", "!=", "<", "<=", ">", ">="].includes(t.text)) return l;
    this.i++;
    const r = this.add();
    const n = this.peek();
    if (n.kind === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(n.text)) throw new ExprError(n.pos, "comparisons cannot be chained; use and");
    switch (t.text) {
      case "==": return (c) => bool(l(c) === r(c));
      case "!=": return (c) => bool(l(c) !== r(c));
      case "<": return (c) => bool(l(c) < r(c));
      case "<=": return (c) => bool(l(c) <= r(c));
      case ">": return (c) => bool(l(c) > r(c));
      default: return (c) => bool(l(c) >= r(c));
    }
  }

  private add(): Fn {
    let left = this.mul();
    for (;;) {
      const l = left;
      if (this.isOp("+")) { this.i++; const r = this.mul(); left = (c) => l(c) + r(c); }
      else if (this.isOp("-")) { this.i++; const r = this.mul(); left = (c) => l(c) - r(c); }
      else return left;
    }
  }

  private mul(): Fn {
    let left = this.unary();
    for (;;) {
      const l = left;
      if (this.isOp("*")) { this.i++; const r = this.unary(); left = (c) => l(c) * r(c); }
      else if (this.isOp("/") || this.isOp("%")) {
        const mod = this.isOp("%");
        this.i++;
        const r = this.unary();
        left = (c) => {
          const a = l(c), b = r(c);
          if (b === 0) return fail(c, EVAL_DIVISION_BY_ZERO);
          return mod ? a % b : a / b;
        };
      } else return left;
    }
  }

  private unary(): Fn {
    if (this.isOp("-")) { this.i++; const x = this.unary(); return (c) => -x(c); }
    if (this.isOp("+")) { this.i++; return this.unary(); }
    return this.primary();
  }

  private primary(): Fn {
    const t = this.peek();
    if (t.kind === "num") {
      this.i++;
      const v = t.value;
      return () => v;
    }
    if (t.kind === "op" && t.text === "(") {
      this.i++;
      const x = this.or();
      this.expect(")");
      return x;
    }
    if (t.kind !== "id" || (KEYWORDS.has(t.text) && t.text !== "true" && t.text !== "false")) {
      throw new ExprError(t.pos, `expected a number, a signal name or "(", found ${describe(t)}`);
    }
    this.i++;
    if (t.text === "true") return () => 1;
    if (t.text === "false") return () => 0;
    const next = this.peek();
    if (next.kind === "op" && next.text === "(") return this.call(t.text, t.pos);
    let slot = this.signals.indexOf(t.text);
    if (slot < 0) slot = this.signals.push(t.text) - 1;
    const s = slot;
    return (c) => { const v = c.values[s]; return v === undefined ? fail(c, EVAL_MISSING_SIGNAL) : v; };
  }

  private call(name: string, pos: number): Fn {
    const arity = ARITY[name];
    if (arity === undefined) throw new ExprError(pos, `unknown function "${name}" (functions: ${Object.keys(ARITY).join(", ")})`);
    this.i++; // "("
    const args: Fn[] = [];
    if (!this.isOp(")")) {
      args.push(this.or());
      while (this.isOp(",")) { this.i++; args.push(this.or()); }
    }
    this.expect(")");
    if (args.length < arity[0] || args.length > arity[1]) {
      const want = arity[0] === arity[1] ? `${arity[0]}` : `at least ${arity[0]}`;
      throw new ExprError(pos, `${name}() takes ${want} argument${arity[0] === 1 ? "" : "s"}, got ${args.length}`);
    }
    const [a, b, x] = args as [Fn, Fn, Fn];
    switch (name) {
      case "abs": return (c) => Math.abs(a(c));
      case "clamp": return (c) => Math.min(Math.max(a(c), b(c)), x(c));
      case "if": return (c) => { const cond = a(c); if (c.error) return NaN; return cond !== 0 ? b(c) : x(c); };
      case "min": return (c) => { let m = Infinity; for (const f of args) m = Math.min(m, f(c)); return m; };
      default: return (c) => { let m = -Infinity; for (const f of args) m = Math.max(m, f(c)); return m; };
    }
  }
}

function describe(t: Tok): string {
  if (t.kind === "end") return "end of expression";
  if (t.kind === "num") return `number ${t.value}`;
  return `"${t.text}"`;
}

/** Parses `src`; throws ExprError with the 1-based column of the first problem. */
export function compileExpr(src: string): CompiledExpr {
  const p = new Parser(tokenize(src));
  const evaluate = p.parse();
  return { signals: p.signals, evaluate };
}
