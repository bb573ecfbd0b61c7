import { readFileSync } from "node:fs";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { RemoteWriteConfig } from "../config/schema.js";

/**
 * One HTTP(S) client per target, on node:http/https rather than global fetch:
 * Node 20's fetch takes no per-request TLS options (undici's Agent is bundled
 * but not importable), and remote_write.tls_config needs a CA, a client
 * certificate and insecure_skip_verify per target. One keep-alive agent per
 * target, so a target's requests reuse one connection.
 */

export interface TransportResponse {
  status: number;
  retryAfter: string | null;
  /** At most `errorTextBytes` of the body, for a non-2xx answer; "" on success (spec: ignore the body on success). */
  text: string;
}

/** A success body is read (so the connection can be reused) up to this much; beyond it the socket is dropped. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

export class Transport {
  private readonly agent: http.Agent;
  private readonly client: typeof http | typeof https;

  constructor(
    readonly url: URL,
    tls: RemoteWriteConfig["tls_config"],
  ) {
    const secure = url.protocol === "https:";
    this.client = secure ? https : http;
    if (!secure) {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      return;
    }
    const where = (key: string) => `remote_write ${url.host}: tls_config.${key}`;
    const read = (key: "ca_file" | "cert_file" | "key_file"): Buffer | undefined => {
      const file = tls?.[key];
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (err) {
        throw new Error(`${where(key)}: cannot read ${file}: ${(err as Error).message}`);
      }
    };
    const opts: https.AgentOptions = { keepAlive: true, maxSockets: 16, rejectUnauthorized: !(tls?.insecure_skip_verify ?? false) };
    const ca = read("ca_file");
    const cert = read("cert_file");
    const key = read("key_file");
    if (ca !== undefined) opts.ca = ca;
    if (cert !== undefined) opts.cert = cert;
    if (key !== undefined) opts.key = key;
    if (tls?.server_name !== undefined) opts.servername = tls.server_name;
    this.agent = new https.Agent(opts);
  }

  /** POSTs `body`; rejects on network errors and when `signal` aborts (with the signal's reason). */
  post(headers: Record<string, string>, body: Uint8Array, signal: AbortSignal, errorTextBytes: number): Promise<TransportResponse> {
    return new Promise<TransportResponse>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const req = this.client.request(this.url, { method: "POST", agent: this.agent, headers: { ...headers, "content-length": String(body.byteLength) } });
      const onAbort = () => req.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      const done = () => signal.removeEventListener("abort", onAbort);
      req.once("error", (err) => {
        done();
        reject(err);
      });
      req.once("response", (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        const ra = res.headers["retry-after"];
        readBody(res, ok ? 0 : errorTextBytes).then(
          (text) => {
            done();
            resolve({ status, retryAfter: typeof ra === "string" ? ra : null, text });
          },
          () => {
            done();
            // The status is in: a failure reading the (ignored or excerpted) body changes nothing.
            resolve({ status, retryAfter: typeof ra === "string" ? ra : null, text: "" });
          },
        );
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Keeps the first `keep` bytes as UTF-8 and drains the rest up to DRAIN_LIMIT_BYTES (then drops the socket). */
function readBody(res: IncomingMessage, keep: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let seen = 0;
    // A cut inside a multi-byte character decodes to U+FFFD: acceptable for an error excerpt.
    const text = () => Buffer.concat(chunks).subarray(0, keep).toString("utf8");
    res.on("data", (chunk: Buffer) => {
      seen += chunk.byteLength;
      if (kept < keep) {
        chunks.push(chunk);
        kept += chunk.byteLength;
      }
      if (seen > DRAIN_LIMIT_BYTES) {
        res.destroy();
        resolve(text());
      }
    });
    res.once("end", () => resolve(text()));
    res.once("error", reject);
    res.once("aborted", () => reject(new Error("response aborted")));
  });
}
