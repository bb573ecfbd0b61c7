import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { Command } from "commander";
import { hashPassword } from "./ingest/auth/password-file.js";

/**
 * `edgegate passwd [-c] [-b] [-D] FILE USER [PASSWORD]`: manages a Mosquitto
 * password file with mosquitto_passwd's flags, messages and format (`$7$`
 * PBKDF2-SHA512, 101 iterations), for operators without Mosquitto installed.
 * The file is rewritten through a temporary file and a rename, so the gateway
 * (which polls it) never reads half a file.
 */

export class PasswdError extends Error {}

export interface PasswdOptions {
  create: boolean;
  batch: boolean;
  delete: boolean;
}

/** The new file text after adding/updating or deleting `user` (other lines, comments included, are kept). */
export function updatePasswordText(text: string, user: string, hashed: string | null): { text: string; found: boolean } {
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  let found = false;
  const out: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = colon >= 0 && !line.startsWith("#") ? line.slice(0, colon) : null;
    if (name === user) {
      found = true;
      if (hashed !== null) out.push(`${user}:${hashed}`);
      continue;
    }
    out.push(line);
  }
  if (!found && hashed !== null) out.push(`${user}:${hashed}`);
  return { text: out.length === 0 ? "" : out.join("\n") + "\n", found };
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Reads a password twice like mosquitto_passwd: from the terminal with echo off, or two lines of a piped stdin. */
async function promptTwice(): Promise<string> {
  const input = process.stdin;
  const tty = input.isTTY === true;
  let buffered = "";
  let ended = false;
  let wake: (() => void) | null = null;
  const onData = (d: Buffer) => {
    buffered += d.toString("utf8");
    if (tty && buffered.includes("\u0003")) {
      input.setRawMode(false);
      process.stdout.write("\n");
      process.exit(130);
    }
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  input.on("data", onData);
  input.on("end", onEnd);
  if (tty) input.setRawMode(true); // no echo: the password is not shown on the terminal
  const readLine = async (prompt: string): Promise<string> => {
    process.stdout.write(prompt);
    for (;;) {
      const nl = buffered.search(/[\r\n]/);
      if (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + (buffered[nl] === "\r" && buffered[nl + 1] === "\n" ? 2 : 1));
        process.stdout.write("\n");
        return line;
      }
      if (ended) {
        const line = buffered;
        buffered = "";
        process.stdout.write("\n");
        return line;
      }
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
  };
  try {
    const first = await readLine("Password: ");
    if (first === "") throw new PasswdError("Error: Empty password.");
    const second = await readLine("Reenter password: ");
    if (first !== second) throw new PasswdError("Error: Passwords do not match.");
    return first;
  } finally {
    if (tty) input.setRawMode(false);
    input.off("data", onData);
    input.off("end", onEnd);
    input.pause();
  }
}

export async function runPasswd(opts: PasswdOptions, file: string, user: string, password: string | undefined): Promise<string | null> {
  if (opts.create && opts.delete) throw new PasswdError("Error: -c and -D cannot be used together.");
  if (user.includes(":")) throw new PasswdError("Error: Username must not contain the ':' character.");
  if (opts.batch && !opts.delete && password === undefined) throw new PasswdError("Error: -b needs a password: edgegate passwd -b FILE USER PASSWORD");
  if (!opts.batch && password !== undefined) throw new PasswdError("Error: a password on the command line needs -b (batch mode).");
  let text = "";
  if (!opts.create) {
    if (!existsSync(file)) throw new PasswdError(`Error: Unable to open password file ${file}. No such file or directory.`);
    text = readFileSync(file, "utf8");
  }
  if (opts.delete) {
    const r = updatePasswordText(text, user, null);
    if (!r.found) throw new PasswdError(`Warning: User ${user} not found in password file.`);
    writeAtomically(file, r.text);
    return null;
  }
  const pw = password ?? (await promptTwice());
  if (pw === "") throw new PasswdError("Error: Empty password.");
  writeAtomically(file, updatePasswordText(text, user, hashPassword(pw)).text);
  return null;
}

export function passwdCommand(): Command {
  return new Command("passwd")
    .description("add, update (-b) or delete (-D) a device in a Mosquitto password file (mqtt.auth.password_file), like mosquitto_passwd")
    .option("-c", "create a new password file (overwrites an existing one)")
    .option("-b", "batch mode: take the password from the command line")
    .option("-D", "delete the user instead of adding/updating it")
    .argument("<file>", "password file")
    .argument("<user>", "user name (the device identity; must not contain ':')")
    .argument("[password]", "password (with -b only)")
    .action(async (file: string, user: string, password: string | undefined, o: { c?: boolean; b?: boolean; D?: boolean }) => {
      try {
        await runPasswd({ create: o.c === true, batch: o.b === true, delete: o.D === true }, file, user, password);
      } catch (err) {
        if (!(err instanceof PasswdError)) throw err;
        process.stderr.write(err.message + "\n");
        process.exit(1);
      }
    });
}
