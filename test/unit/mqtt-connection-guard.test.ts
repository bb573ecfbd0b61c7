import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { GuardedConnection } from "../../gateway/ingest/mqtt-connection-guard.js";

/** A transport that records each write it gets (one write = one syscall on a socket) and can leave bytes unread. */
function recordingTransport(drain: boolean): { transport: Duplex; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const transport = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk);
      if (drain) cb(); // else the bytes stay in writableLength: a client that does not read
    },
  });
  return { transport, writes };
}

describe("connection guard writes", () => {
  it("hands what aedes wrote while corked (a PUBACK's fragments, a window of PUBACKs) to the transport as one write, bytes and order unchanged", async () => {
    const { transport, writes } = recordingTransport(true);
    const conn = new GuardedConnection(transport, { maxPacketSize: 0, messageRateLimit: 0, maxQueuedBytes: 0 }, { refused: () => undefined, rateLimited: () => undefined });
    const packets = [1, 2, 3].flatMap((id) => [Buffer.from([0x40, 0x02]), Buffer.from([0x00, id])]); // three PUBACKs, header and body apart
    conn.cork();
    for (const p of packets) conn.write(p);
    process.nextTick(() => conn.uncork());
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 1, `one transport write, got ${writes.length}`);
    assert.ok(writes[0]!.equals(Buffer.concat(packets)));
    conn.write(Buffer.from([0xd0, 0x00])); // uncorked: passed on as it comes
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 2);
    conn.destroy();
  });

  it("still disconnects a client whose unread bytes pass max_queued_bytes when the bytes come corked", async () => {
    const { transport } = recordingTransport(false);
    const refused: string[] = [];
    const conn = new GuardedConnection(transport, { maxPacketSize: 0, messageRateLimit: 0, maxQueuedBytes: 100 }, { refused: (r) => refused.push(r), rateLimited: () => undefined });
    conn.on("error", () => undefined);
    conn.cork();
    for (let i = 0; i < 10; i++) conn.write(Buffer.alloc(30, i));
    process.nextTick(() => conn.uncork());
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(refused, ["slow_consumer"]);
    assert.ok(conn.destroyed);
  });
});
