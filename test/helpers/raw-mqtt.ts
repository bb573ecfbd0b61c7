import { connect, type Socket } from "node:net";

/**
 * MQTT 3.1.1 packets built byte by byte, for clients that misbehave on purpose
 * (a subscriber that stops reading, a PUBLISH announcing 100 MB, a wildcard in a
 * PUBLISH topic): no client library would send them.
 */

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string): Buffer {
  const b = Buffer.from(s, "utf8");
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

export function connectPacket(clientId: string, clean = true, keepaliveS = 60): Buffer {
  const flags = clean ? 0x02 : 0x00;
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(keepaliveS);
  return packet(0x10, Buffer.concat([str("MQTT"), Buffer.from([4, flags]), ka, str(clientId)]));
}

export function subscribePacket(topic: string, qos: 0 | 1, messageId = 1): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  return packet(0x82, Buffer.concat([id, str(topic), Buffer.from([qos])]));
}

export function publishPacket(topic: string, payload: Buffer | string, qos: 0 | 1 = 0, messageId = 1, retain = false): Buffer {
  const parts = [str(topic)];
  if (qos > 0) {
    const id = Buffer.alloc(2);
    id.writeUInt16BE(messageId);
    parts.push(id);
  }
  parts.push(typeof payload === "string" ? Buffer.from(payload) : payload);
  return packet(0x30 | (qos << 1) | (retain ? 1 : 0), Buffer.concat(parts));
}

/** Only the fixed header of a PUBLISH announcing `bodyBytes` bytes (the body is streamed by the caller). */
export function publishHeader(bodyBytes: number): Buffer {
  return Buffer.concat([Buffer.from([0x30]), remainingLength(bodyBytes)]);
}

/** A raw TCP connection to `host:port` that resolves once connected; `closed` resolves when the server closes it. */
export async function rawConnect(port: number): Promise<{ socket: Socket; closed: Promise<void>; received: () => Buffer }> {
  const socket = connect({ host: "127.0.0.1", port });
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, closed, received: () => Buffer.concat(chunks) };
}

/** Port of a gateway's "host:port" MQTT address. */
export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}
