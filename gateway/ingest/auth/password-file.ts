import { createHash, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { WatchedFile, type ReloadEvents } from "./watched-file.js";

/**
 * Mosquitto's password file: one `user:hash` per line, where hash is
 *
 * - `$7$<iterations>$<salt>$<digest>`: PBKDF2-HMAC-SHA512 (mosquitto_passwd's default
 *   since 2.0, 101 iterations, 12-byte salt, 64-byte digest), or
 * - `$6$<salt>$<digest>`: SHA-512 over password then salt (Mosquitto 1.6 and older),
 *
 * salt and digest in standard base64. Lines that are empty or start with `#` are
 * ignored, as in Mosquitto's `pw__file_parse`. A file written by Debian's
 * `mosquitto_passwd` verifies unchanged, and `edgegate passwd` writes `$7$` lines.
 */

export type PasswordHash =
  | { kind: "pbkdf2-sha512"; iterations: number; salt: Buffer; digest: Buffer }
  | { kind: "sha512"; salt: Buffer; digest: Buffer };

/** mosquitto_passwd's PBKDF2 parameters (src/password_mosq.h: PW_DEFAULT_ITERATIONS, SALT_LEN). */
export const PBKDF2_ITERATIONS = 101;
const SALT_BYTES = 12;
const DIGEST_BYTES = 64;
/** Refuse absurd iteration counts from a file: one check must not stall the broker. */
const MAX_ITERATIONS = 1_000_000;

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function parseHash(text: string): PasswordHash | Error {
  const parts = text.split("$");
  // "$7$101$salt$digest" splits into ["", "7", "101", "salt", "digest"].
  if (parts[0] !== "") return new Error("not a hashed password (plain-text files must be converted with `mosquitto_passwd -U`)");
  if (parts[1] === "7" && parts.length === 5) {
    const iterations = Number(parts[2]);
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) return new Error(`bad iteration count ${JSON.stringify(parts[2])}`);
    if (!B64.test(parts[3]!) || !B64.test(parts[4]!)) return new Error("salt or digest is not base64");
    const digest = Buffer.from(parts[4]!, "base64");
    if (digest.length !== DIGEST_BYTES) return new Error(`digest must be ${DIGEST_BYTES} bytes, got ${digest.length}`);
    return { kind: "pbkdf2-sha512", iterations, salt: Buffer.from(parts[3]!, "base64"), digest };
  }
  if (parts[1] === "6" && parts.length === 4) {
    if (!B64.test(parts[2]!) || !B64.test(parts[3]!)) return new Error("salt or digest is not base64");
    const digest = Buffer.from(parts[3]!, "base64");
    if (digest.length !== DIGEST_BYTES) return new Error(`digest must be ${DIGEST_BYTES} bytes, got ${digest.length}`);
    return { kind: "sha512", salt: Buffer.from(parts[2]!, "base64"), digest };
  }
  return new Error(`unknown hash type "$${parts[1] ?? ""}$" (expected $7$ or $6$)`);
}

/** A `$7$` line's hash part for `password`, as mosquitto_passwd writes it. */
export function hashPassword(password: string, iterations = PBKDF2_ITERATIONS): string {
  const salt = randomBytes(SALT_BYTES);
  const digest = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, DIGEST_BYTES, "sha512");
  return `$7$${iterations}$${salt.toString("base64")}$${digest.toString("base64")}`;
}

/** Constant-time check of `password` against a parsed hash (async: PBKDF2 runs on the thread pool). */
export async function verifyHash(hash: PasswordHash, password: Buffer): Promise<boolean> {
  let computed: Buffer;
  if (hash.kind === "sha512") {
    computed = createHash("sha512").update(password).update(hash.salt).digest();
  } else {
    computed = await new Promise<Buffer>((resolve, reject) =>
      pbkdf2(password, hash.salt, hash.iterations, DIGEST_BYTES, "sha512", (err, key) => (err ? reject(err) : resolve(key))),
    );
  }
  return computed.length === hash.digest.length && timingSafeEqual(computed, hash.digest);
}

/** Parses a password file's text; throws an Error naming the line of the first bad entry. */
export function parsePasswordFile(text: string, source: string): Map<string, PasswordHash> {
  const users = new Map<string, PasswordHash>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`${source}:${i + 1}: expected "user:hash"`);
    const user = line.slice(0, colon);
    const hash = parseHash(line.slice(colon + 1));
    if (hash instanceof Error) throw new Error(`${source}:${i + 1}: user ${JSON.stringify(user)}: ${hash.message}`);
    users.set(user, hash);
  });
  return users;
}

export type { ReloadEvents } from "./watched-file.js";

const NO_USERS: ReadonlyMap<string, PasswordHash> = new Map();

/**
 * A password file kept current (watched-file.ts): loaded at start, re-read when
 * it changes; a failed reload keeps the previous users, so a half-written file
 * cannot lock every device out.
 */
export class PasswordFile extends WatchedFile<Map<string, PasswordHash>> {
  constructor(path: string, events: ReloadEvents, pollMs = 2000) {
    super(path, parsePasswordFile, (users) => users.size, events, pollMs);
  }

  private get users(): ReadonlyMap<string, PasswordHash> {
    return super.current() ?? NO_USERS;
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  size(): number {
    return this.users.size;
  }

  /** True when `user` is in the file and `password` matches its hash. */
  async verify(user: string, password: Buffer): Promise<boolean> {
    const hash = this.users.get(user);
    if (!hash) {
      // Spend about the time a real check takes, so user names cannot be probed by timing.
      await verifyHash(DUMMY, password);
      return false;
    }
    return verifyHash(hash, password);
  }
}

const DUMMY: PasswordHash = { kind: "pbkdf2-sha512", iterations: PBKDF2_ITERATIONS, salt: Buffer.alloc(SALT_BYTES), digest: Buffer.alloc(DIGEST_BYTES) };
