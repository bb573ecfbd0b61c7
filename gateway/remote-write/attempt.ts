import { parseRetryAfter } from "./backoff.js";
import type { Transport } from "./transport.js";

/**
 * One Remote-Write POST and what it came to. Retryable vs permanent errors are
 * data, not exceptions (OTel exporterhelper), and the rules are the spec's
 * (Remote-Write 1.0, "Retries & Backoff"): 5xx MUST be retried, 429 MAY be,
 * any other 4xx MUST NOT be.
 */
export type RetryReason = "status_5xx" | "status_429" | "status_other" | "network_error" | "timeout" | "auth_error";
export type Outcome =
  | { kind: "ok"; status: number }
  | { kind: "retry"; reason: RetryReason; message: string; status?: number; retryAfterMs?: number }
  | { kind: "dead"; status: number; message: string }
  /** The caller aborted (shutdown): the receiver may or may not have the batch. */
  | { kind: "aborted" };

/** How much of an error body is kept in the dead-letter table and the status API. */
const ERROR_TEXT_BYTES = 1024;

/** Never throws. `controller` is the caller's, to abort at shutdown; the timeout uses it too. */
export async function postBatch(
  transport: Transport,
  authorize: (body: Uint8Array) => Promise<Record<string, string>>,
  payload: Uint8Array,
  timeoutMs: number,
  controller: AbortController,
): Promise<Outcome> {
  let headers: Record<string, string>;
  try {
    headers = await authorize(payload);
  } catch (err) {
    return { kind: "retry", reason: "auth_error", message: (err as Error).message };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timed out after ${timeoutMs} ms (remote_timeout)`));
  }, timeoutMs);
  try {
    const res = await transport.post(headers, payload, controller.signal, ERROR_TEXT_BYTES);
    const status = res.status;
    if (status >= 200 && status < 300) return { kind: "ok", status };
    if (status === 429 || status >= 500) {
      const outcome: Outcome = { kind: "retry", reason: status === 429 ? "status_429" : "status_5xx", status, message: `HTTP ${status}: ${res.text}` };
      // Retry-After is defined for 429 and 503 (RFC 6585 §4, RFC 9110 §10.2.3).
      if (status === 429 || status === 503) {
        const after = parseRetryAfter(res.retryAfter);
        if (after !== undefined) outcome.retryAfterMs = after;
      }
      return outcome;
    }
    if (status >= 400) return { kind: "dead", status, message: res.text };
    // 1xx/3xx: the endpoint is misconfigured (redirects are not followed), not the batch.
    return { kind: "retry", reason: "status_other", status, message: `HTTP ${status}: ${res.text}` };
  } catch (err) {
    if (timedOut) return { kind: "retry", reason: "timeout", message: `request timed out after ${timeoutMs} ms (remote_timeout)` };
    if (controller.signal.aborted) return { kind: "aborted" };
    return { kind: "retry", reason: "network_error", message: networkMessage(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** `ECONNREFUSED connect ECONNREFUSED 127.0.0.1:9090`: the code first, for logs and the status API. */
function networkMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && !err.message.startsWith(code) ? `${code} ${err.message}` : err.message;
}
