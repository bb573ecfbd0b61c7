import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeWriteRequest, snappyDecompress, type TimeSeries } from "../../gateway/remote-write/codec.js";
import { readBody } from "../../gateway/remote-write/read-body.js";

/**
 * A Remote-Write receiver for tests that can be told to fail: `respond(i)` picks
 * the answer to the i-th request (0-based; default 204) and `delayMs(i)` how long
 * to wait before answering. Every request is recorded, decoded with our codec.
 * Loopback, ephemeral port.
 */

export interface FakeResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}
export interface FakeRequest {
  headers: Record<string, string | string[] | undefined>;
  status: number;
  series: TimeSeries[];
}
export interface FakeSample {
  labels: Record<string, string>;
  value: number;
  timestamp: number;
}
export interface FakeReceiver {
  url: string;
  requests: FakeRequest[];
  /** All samples of requests answered 2xx, in arrival order. */
  samples(): FakeSample[];
  /** Most requests that were open at once (received, not yet answered). */
  maxInFlight(): number;
  close(): Promise<void>;
}

export async function startFakeReceiver(opts?: {
  /** `request`: what was received (decoded), to answer as a receiver that judges the content would. */
  respond?: (requestIndex: number, request: { series: TimeSeries[] }) => number | FakeResponse;
  delayMs?: (i: number) => number;
}): Promise<FakeReceiver> {
  const requests: FakeRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let count = 0;
  let inFlight = 0;
  let maxInFlight = 0;

  const server = createServer((req, res) => {
    const i = count++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once("close", () => inFlight--);
    readBody(req, 64 * 1024 * 1024)
      .then((body) => {
        let series: TimeSeries[] = [];
        let decodeError: string | undefined;
        try {
          series = decodeWriteRequest(snappyDecompress(body, 64 * 1024 * 1024));
        } catch (err) {
          decodeError = (err as Error).message;
        }
        const picked = opts?.respond?.(i, { series }) ?? 204;
        const answer: FakeResponse = typeof picked === "number" ? { status: picked } : picked;
        if (decodeError !== undefined && answer.status < 300) {
          answer.status = 400;
          answer.body = `fake receiver cannot decode: ${decodeError}`;
        }
        requests.push({ headers: copyHeaders(req.headers), status: answer.status, series });
        const send = (): void => {
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        };
        const delay = opts?.delayMs?.(i) ?? 0;
        if (delay <= 0) return send();
        const t = setTimeout(() => {
          timers.delete(t);
          send();
        }, delay);
        timers.add(t);
      })
      .catch(() => {
        res.statusCode = 500;
        res.end();
      });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    requests,
    samples() {
      const out: FakeSample[] = [];
      for (const r of requests) {
        if (r.status < 200 || r.status >= 300) continue;
        for (const ts of r.series) {
          const labels: Record<string, string> = {};
          for (const l of ts.labels) labels[l.name] = l.value;
          for (const s of ts.samples) out.push({ labels, value: s.value, timestamp: s.timestamp });
        }
      }
      return out;
    },
    maxInFlight: () => maxInFlight,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function copyHeaders(h: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  return { ...h };
}
