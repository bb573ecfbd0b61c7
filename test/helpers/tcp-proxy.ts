import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A loopback TCP proxy in front of a Remote-Write receiver that injects
 * uplink faults. Changing the mode drops every open connection, so the next
 * request meets the new mode on a fresh connection (keep-alive would
 * otherwise carry it through the old one).
 *
 * - forward: pipes both ways; `delayMs` holds each answer chunk back (a slow receiver or link)
 * - refuse: the port is closed (ECONNREFUSED); the same port is listened on again when the mode changes
 * - reset: accepts, reads the start of the request, then sends a TCP RST (reset mid-request)
 * - blackhole: accepts and reads, never answers (the client's timeout fires)
 * - http: answers each whole request itself with `status` (e.g. 503, 429 + Retry-After), never forwarding
 */
export type ProxyMode =
  | { kind: "forward"; delayMs?: number }
  | { kind: "refuse" }
  | { kind: "reset" }
  | { kind: "blackhole" }
  | { kind: "http"; status: number; headers?: Record<string, string>; body?: string };

export interface TcpProxy {
  port: number;
  url(path?: string): string;
  setMode(mode: ProxyMode): Promise<void>;
  /** Requests answered per mode kind (http: by status), for assertions that a fault was really met. */
  counts: Record<string, number>;
  setUpstream(port: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(upstreamPort: number, mode: ProxyMode = { kind: "forward" }): Promise<TcpProxy> {
  let current = mode;
  let upstream = upstreamPort;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const counts: Record<string, number> = {};
  const count = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
  let server: Server | undefined;
  let port = 0;

  const track = (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  };

  function onConnection(client: Socket): void {
    track(client);
    const m = current;
    if (m.kind === "forward") {
      count("forward");
      const up = connect(upstream, "127.0.0.1");
      track(up);
      client.pipe(up);
      up.on("data", (chunk: Buffer) => {
        if (!m.delayMs) return void client.write(chunk);
        const t = setTimeout(() => {
          timers.delete(t);
          client.write(chunk);
        }, m.delayMs);
        timers.add(t);
      });
      up.once("end", () => setTimeout(() => client.end(), m.delayMs ?? 0));
      up.once("error", () => client.destroy());
      client.once("close", () => up.destroy());
      return;
    }
    if (m.kind === "reset") {
      client.once("data", () => {
        count("reset");
        client.resetAndDestroy();
      });
      return;
    }
    if (m.kind === "blackhole") {
      client.once("data", () => count("blackhole"));
      client.resume();
      return;
    }
    if (m.kind === "http") {
      let buf = Buffer.alloc(0);
      client.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString("latin1"))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        count(`http_${m.status}`);
        const body = m.body ?? `injected ${m.status}`;
        let head = `HTTP/1.1 ${m.status} Injected\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`;
        for (const [k, v] of Object.entries(m.headers ?? {})) head += `${k}: ${v}\r\n`;
        client.end(head + "\r\n" + body);
      });
    }
  }

  async function listen(): Promise<void> {
    server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(port, "127.0.0.1", () => resolve());
    });
    port = (server.address() as AddressInfo).port;
  }
  async function unlisten(): Promise<void> {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
  function dropAll(): void {
    for (const s of sockets) s.destroy();
    sockets.clear();
  }

  if (current.kind !== "refuse") await listen();
  else {
    await listen();
    await unlisten();
  }
  return {
    get port() {
      return port;
    },
    url: (path = "/api/v1/write") => `http://127.0.0.1:${port}${path}`,
    counts,
    setUpstream(p: number) {
      upstream = p;
      dropAll();
    },
    async setMode(next) {
      const was = current;
      current = next;
      dropAll();
      if (next.kind === "refuse" && was.kind !== "refuse") await unlisten();
      if (next.kind !== "refuse" && was.kind === "refuse") await listen();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      dropAll();
      await unlisten();
    },
  };
}
