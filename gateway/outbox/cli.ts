import { Command, InvalidArgumentError } from "commander";
import { OutboxAdmin, type AdminOptions, type OutboxStatus } from "./admin.js";

/**
 * `edgegate outbox status|dead-letters|requeue|purge --config F`: works on the
 * file named by the config's storage.path (or --db), whether the gateway is
 * stopped or running (see OutboxAdmin). `group` maps a queue to the target it
 * belongs to (the queue naming is the sender's, handed in by the caller):
 * figures are per target and `--target` selects all of a target's queues.
 */
export function outboxCommand(group: AdminOptions["group"]): Command {
  const cmd = new Command("outbox").description("inspect the store-and-forward outbox: depth, age, dead letters; requeue or purge dead letters");
  const common = (c: Command) =>
    c
      .option("--config <file>", "edgegate configuration file (its storage.path is the outbox)")
      .option("--db <file>", "the outbox file itself, instead of --config")
      .option("--json", "print JSON instead of text");

  const run = (o: Opts, fn: (admin: OutboxAdmin) => void) => withAdmin(o, group, fn);
  common(cmd.command("status").description("queue depth, bytes and age per target, dead letters, whether a gateway has the file open")).action(
    (o: Opts) => run(o, (admin) => print(o, admin.status(), formatStatus)),
  );
  common(cmd.command("dead-letters").description("list dead letters: target, status and the receiver's error text"))
    .option("--target <name>", "only this target")
    .option("--limit <n>", "at most n rows", int)
    .action((o: Opts & { target?: string; limit?: number }) =>
      run(o, (admin) =>
        print(o, admin.deadLetters({ target: o.target, ...(o.limit !== undefined ? { limit: o.limit } : {}) }), (rows) =>
          rows.length === 0
            ? "no dead letters\n"
            : rows.map((d) => `#${d.id} target=${d.target}${d.queue !== d.target ? ` queue=${d.queue}` : ""} samples=${d.samples} status=${d.status} attempts=${d.attempts} created=${iso(d.createdMs)} dead=${iso(d.deadMs)}\n    ${d.error.replace(/\s+/g, " ").trim()}\n`).join(""),
        ),
      ),
    );
  common(cmd.command("requeue").description("move dead letters back to their queue, at their original place (oldest first)"))
    .option("--target <name>", "only this target")
    .option("--id <n>", "only this dead letter", int)
    .action((o: Opts & { target?: string; id?: number }) =>
      run(o, (admin) => print(o, admin.requeue({ target: o.target, id: o.id }), (r) => `requeued ${r.rows} batch(es), ${r.samples} sample(s)\n`)),
    );
  common(cmd.command("purge").description("delete dead letters (or, with --pending, a target's waiting batches)"))
    .option("--target <name>", "only this target (required with --pending)")
    .option("--id <n>", "only this row", int)
    .option("--pending", "purge waiting batches instead of dead letters: their samples are lost")
    .action((o: Opts & { target?: string; id?: number; pending?: boolean }) => {
      if (o.pending && o.target === undefined) fail("edgegate outbox purge --pending needs --target");
      run(o, (admin) => print(o, admin.purge({ target: o.target, id: o.id, pending: o.pending ?? false }), (r) => `purged ${r.rows} ${o.pending ? "waiting batch(es)" : "dead letter(s)"}, ${r.samples} sample(s)\n`));
    });
  return cmd;
}

interface Opts {
  config?: string;
  db?: string;
  json?: boolean;
}

async function withAdmin(o: Opts, group: AdminOptions["group"], fn: (admin: OutboxAdmin) => void): Promise<void> {
  let path = o.db;
  if (path === undefined) {
    if (o.config === undefined) fail("edgegate outbox: give --config <file> (or --db <file>)");
    try {
      // Imported here, not at the top: the gateway process loads this module too, and needs no validator.
      const { loadConfigFile } = await import("../config/load.js");
      path = loadConfigFile(o.config).storage.path;
    } catch (err) {
      fail((err as Error).message);
    }
  }
  let admin: OutboxAdmin;
  try {
    admin = OutboxAdmin.open(path, { group });
  } catch (err) {
    fail(`edgegate outbox: ${(err as Error).message}`);
  }
  try {
    fn(admin);
  } finally {
    admin.close();
  }
}

function print<T>(o: Opts, value: T, text: (v: T) => string): void {
  process.stdout.write(o.json ? JSON.stringify(value, null, 2) + "\n" : text(value));
}

function formatStatus(s: OutboxStatus): string {
  const now = Date.now();
  let out = `outbox ${s.path}: ${s.fileBytes} bytes + ${s.walBytes} bytes WAL\n`;
  out += s.runState.running
    ? `gateway: marked running (pid ${s.runState.pid}, since ${iso(s.runState.startedMs ?? 0)}); if that process is gone, its stop was unclean\n`
    : "gateway: stopped cleanly\n";
  if (s.queues.length === 0) out += "queues: empty\n";
  for (const q of s.queues) {
    out += `queue ${q.target}: ${q.rows} batch(es), ${q.samples} sample(s), ${q.bytes} bytes, oldest ${Math.round((now - q.oldestMs) / 1000)} s ago (${iso(q.oldestMs)})\n`;
  }
  for (const d of s.deadLetters) out += `dead letters ${d.target}: ${d.rows} batch(es), ${d.samples} sample(s), ${d.bytes} bytes\n`;
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function int(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

function fail(message: string): never {
  process.stderr.write(message + "\n");
  process.exit(1);
}
