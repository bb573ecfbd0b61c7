/**
 * Child process for the crash tests: appends transactions of `batches` rows
 * to the outbox at argv[2] for ever, each row's payload holding its
 * transaction number, and prints `committed <n>` after each commit returned.
 * The parent kills it with SIGKILL at a random moment, often mid-transaction.
 */
import { Outbox } from "../../gateway/outbox/outbox.js";

const [path, startArg, batchesArg, sizeArg] = process.argv.slice(2);
const batches = Number(batchesArg ?? 20);
const size = Number(sizeArg ?? 32 * 1024);
const ob = Outbox.open(path!, { maintenanceIntervalMs: 0 });
let n = Number(startArg ?? 0);
process.stdout.write(`open unclean=${ob.startInfo.unclean} integrity=${ob.startInfo.integrity}\n`);
for (;;) {
  const rows = [];
  for (let i = 0; i < batches; i++) {
    const payload = new Uint8Array(size);
    new DataView(payload.buffer).setUint32(0, n);
    rows.push({ payload, samples: 1 });
  }
  ob.append("t", rows, n);
  // Synchronous write: the line is out before the next transaction starts.
  process.stdout.write(`committed ${n}\n`);
  n++;
}
