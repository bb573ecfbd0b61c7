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
  const lines: string[] = [];
  let buffered = "";
  const tty = input.isTTY === true;
  const ask = (prompt: string) =>
    new Promise<string>((resolve, reject) => {
      process.stdout.write(prompt);
      if (tty) input.setRawMode(true);
      const onData = (d: Buffer) => {
        buffered += d.toString("utf8");
        if (tty && buffered.includes("\u0003")) {
          input.setRawMode(false);
          process.stdout.write("\n");
          process.exit(130);
        }
        const nl = buffered.search(/[\r\n]/);
        if (nl < 0) return;
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + (buffered[nl] === "\r" && buffered[nl + 1] === "\n" ? 2 : 1));
        input.off("data", onData);
        input.off("end", onEnd);
        if (tty) input.setRawMode(false);
        input.pause();
        process.stdout.write("\n");
        resolve(line);
      };
      const onEnd = () => {
        input.off("data", onData);
        reject(new PasswdError("Error: Empty password."));
      };
      input.on("data", onData);
      input.once("end", onEnd);
      input.resume();
    });
  lines.push(await ask("Password: "));
  if (lines[0] === "") throw new PasswdError("Error: Empty password.");
  lines.push(await ask("Reenter password: "));
  if (lines[0] !== lines[1]) throw new PasswdError("Error: Passwords do not match.");
  return lines[0]!;
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
