import { WatchedFile, type ReloadEvents } from "./watched-file.js";
import type { MqttAclRefusedReason } from "../../metrics/auth-reasons.js";

/**
 * Mosquitto's ACL file, with the semantics of its default security plugin
 * (src/security_default.c, 2.0):
 *
 *     # comment
 *     topic read $SYS/#            <- before any `user` line: anonymous clients
 *     user fleet-ops
 *     topic readwrite vehicles/#   <- this user only
 *     pattern write vehicles/%u/#  <- every client; %u = user name, %c = client id
 *
 * Access is `read`, `write`, `readwrite` (the default when omitted) or `deny`.
 * A check looks at the client's own `topic` lines (denials first), then at the
 * `pattern` lines (denials first); no match means denied. A client with no
 * user name has only the anonymous lines. When patterns exist, a user name or
 * client id containing `+` or `#` is denied outright (it could otherwise widen a
 * pattern); `%u`/`%c` replace a whole topic level and are compared as a value,
 * so an identity containing `/` cannot reach into another level either.
 */

export type Access = "read" | "write";
type Grant = "read" | "write" | "readwrite" | "deny";

interface Rule {
  grant: Grant;
  levels: string[];
  /** The filter as written (for logs). */
  topic: string;
}

export interface AclIdentity {
  username: string | null;
  clientId: string;
}

export type AclDecision = { allowed: true } | { allowed: false; reason: MqttAclRefusedReason };

function grants(g: Grant, access: Access): boolean {
  return g === "readwrite" || g === access;
}

/** Validates a topic filter as MQTT does for SUBSCRIBE ([MQTT-4.7.1-2], [MQTT-4.7.1-3]). */
export function checkFilter(filter: string): string | null {
  if (filter === "") return "empty topic filter";
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1)) return "`#` must be a whole level and the last one";
    if (l.includes("+") && l !== "+") return "`+` must be a whole level";
  }
  return null;
}

/**
 * True when the filter `levels` (with + and #, and %u/%c when `id` is given)
 * matches the topic split into levels `t`. A topic starting with `$` is matched only by a filter whose
 * first level is not a wildcard ([MQTT-4.7.2-1]).
 */
function matches(levels: readonly string[], t: readonly string[], id: AclIdentity | null): boolean {
  if (t[0]!.startsWith("$") && (levels[0] === "+" || levels[0] === "#")) return false;
  for (let i = 0; i < levels.length; i++) {
    const f = levels[i]!;
    if (f === "#") return true; // also matches the parent level ("a/#" matches "a")
    if (i >= t.length) return false;
    if (f === "+") continue;
    let want = f;
    if (id) {
      if (f === "%u") {
        if (id.username === null) return false;
        want = id.username;
      } else if (f === "%c") want = id.clientId;
    }
    if (want !== t[i]) return false;
  }
  return t.length === levels.length;
}

/** True when some topic could match both filters (used to refuse a subscription that can never deliver anything). */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  // [MQTT-4.7.2-1]: a wildcard first level never matches a `$` topic.
  const wild = (l: string | undefined) => l === "+" || l === "#";
  if ((a[0]!.startsWith("$") && wild(b[0])) || (b[0]!.startsWith("$") && wild(a[0]))) return false;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === "#" || y === "#") return true;
    if (x === undefined || y === undefined) return false;
    if (x === "+" || y === "+" || x === y) continue;
    return false;
  }
  return true;
}

function substitute(levels: readonly string[], id: AclIdentity): string[] | null {
  const out: string[] = [];
  for (const l of levels) {
    if (l === "%u") {
      if (id.username === null) return null;
      out.push(id.username);
    } else if (l === "%c") out.push(id.clientId);
    else out.push(l);
  }
  return out;
}

export class Acl {
  /** `topic` lines per user; key null = the anonymous section. Denials first, as Mosquitto orders them. */
  private readonly users = new Map<string | null, Rule[]>();
  private readonly patterns: Rule[] = [];

  /** Parses ACL text; throws an Error naming the line of the first problem. */
  constructor(text: string, source = "acl_file") {
    let user: string | null = null;
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trimEnd();
      const where = `${source}:${i + 1}`;
      if (line.trim() === "" || line.trimStart().startsWith("#")) return;
      const m = /^\s*(\S+)\s*(.*)$/.exec(line)!;
      const keyword = m[1]!;
      const rest = m[2]!.trim();
      if (keyword === "user") {
        if (rest === "") throw new Error(`${where}: missing user name`);
        user = rest;
        return;
      }
      if (keyword !== "topic" && keyword !== "pattern") throw new Error(`${where}: expected "topic", "pattern" or "user", got ${JSON.stringify(keyword)}`);
      if (rest === "") throw new Error(`${where}: empty topic`);
      const sp = /^(\S+)\s+(.+)$/.exec(rest);
      let grant: Grant = "readwrite";
      let topic = rest;
      if (sp) {
        const a = sp[1]!;
        if (a !== "read" && a !== "write" && a !== "readwrite" && a !== "deny") throw new Error(`${where}: access must be read, write, readwrite or deny, got ${JSON.stringify(a)}`);
        grant = a;
        topic = sp[2]!.trim();
      }
      const bad = checkFilter(topic);
      if (bad) throw new Error(`${where}: invalid topic ${JSON.stringify(topic)}: ${bad}`);
      const rule: Rule = { grant, levels: topic.split("/"), topic };
      const list = keyword === "pattern" ? this.patterns : this.listFor(user);
      if (grant === "deny") list.unshift(rule);
      else list.push(rule);
    });
  }

  private listFor(user: string | null): Rule[] {
    let l = this.users.get(user);
    if (!l) this.users.set(user, (l = []));
    return l;
  }

  /** May `id` publish to (`write`) or receive a message on (`read`) `topic`? */
  check(id: AclIdentity, topic: string, access: Access): AclDecision {
    // Split once per check, not once per rule.
    const levels = topic.split("/");
    const own = this.users.get(id.username) ?? [];
    for (const r of own) {
      if (!matches(r.levels, levels, null)) continue;
      if (r.grant === "deny") return { allowed: false, reason: "acl_deny" };
      if (grants(r.grant, access)) return { allowed: true };
    }
    if (this.patterns.length > 0 && (/[+#]/.test(id.username ?? "") || /[+#]/.test(id.clientId))) return { allowed: false, reason: "dangerous_identity" };
    for (const r of this.patterns) {
      if (!matches(r.levels, levels, id)) continue;
      if (r.grant === "deny") return { allowed: false, reason: "acl_deny" };
      if (grants(r.grant, access)) return { allowed: true };
    }
    return { allowed: false, reason: "acl_no_match" };
  }

  /**
   * May `id` subscribe to `filter`? Mosquitto grants every subscription and
   * checks read access per delivered message; we check per message too (so
   * `#` never delivers another device's data) and, in addition, refuse
   * (SUBACK 0x80) a filter that no read grant of this client overlaps, or
   * that a denial covers entirely.
   */
  checkSubscribe(id: AclIdentity, filter: string): AclDecision {
    const f = filter.split("/");
    const own = this.users.get(id.username) ?? [];
    const dangerous = this.patterns.length > 0 && (/[+#]/.test(id.username ?? "") || /[+#]/.test(id.clientId));
    const patterns = dangerous ? [] : this.patterns.map((r) => ({ ...r, levels: substitute(r.levels, id) })).filter((r): r is Rule => r.levels !== null);
    for (const r of [...own, ...patterns]) {
      if (r.grant === "deny" && covers(r.levels, f)) return { allowed: false, reason: "acl_deny" };
    }
    for (const r of [...own, ...patterns]) {
      if (grants(r.grant, "read") && overlaps(r.levels, f)) return { allowed: true };
    }
    return { allowed: false, reason: dangerous ? "dangerous_identity" : "acl_no_match" };
  }
}

/** True when every topic matched by filter `f` is matched by `g`. */
function covers(g: readonly string[], f: readonly string[]): boolean {
  for (let i = 0; i < g.length; i++) {
    if (g[i] === "#") return !(i === 0 && f[0]?.startsWith("$"));
    if (i >= f.length) return false;
    if (f[i] === "#") return false;
    if (g[i] === "+") {
      if (i === 0 && f[0]?.startsWith("$")) return false;
      continue;
    }
    if (g[i] !== f[i]) return false;
  }
  return g.length === f.length;
}

export type AclReloadEvents = ReloadEvents;

/** An ACL file kept current like the password file (watched-file.ts): a failed reload keeps the previous rules. */
export class AclFile extends WatchedFile<Acl> {
  constructor(path: string, events: AclReloadEvents, pollMs = 2000) {
    // Mosquitto reports no rule count either: the reload event carries 0 entries.
    super(path, (text, source) => new Acl(text, source), () => 0, events, pollMs);
  }

  override current(): Acl {
    const acl = super.current();
    if (!acl) throw new Error(`${this.path}: not loaded`);
    return acl;
  }
}
