import { parseRetryAfter } from "./backoff.js";
import { readCapped } from "./response.js";

/**
 * One Remote-Write POST and what it came to. Retryable vs permanent errors are
 * data, not exceptions (OTel exporterhelper), and the rules are the spec's
 * (Remote-Write 1.0, "Retries & Backoff"): 5xx MUST be retried, 429 MAY be,
 * any other 4xx MUST NOT be.
 */
export type Outcome =
  | { kind: "ok"; status: number }
  | { kind: "retry"; reason: "status_5xx" | "status_429" | "status_other" | "network_error" | "timeout"; message: string; status?: number; retryAfterMs?: number }
  | { kind: "dead"; status: number; message: string }
  /** The caller aborted (shutdown): the receiver may or may not have the batch. */
  | { kind: "aborted" };

/** How much of an error body is kept in the dead-letter table and the status API. */
const ERROR_TEXT_BYTES = 1024;
/** A success body is read (so the connection can be reused) and ignored (spec: "ignore the response body on success"), up to this much. */
const SUCCESS_BODY_BYTES = 64 * 1024;

/** Never throws. `controller` is the caller's, to abort at shutdown; the timeout uses it too. */
export async function postBatch(
  url: string,
  headers: Record<string, string>,
  payload: Uint8Array,
  timeoutMs: number,
  controller: AbortController,
): Promise<Outcome> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timed out after ${timeoutMs} ms (remote_timeout)`));
  }, timeoutMs);
  try {
    // The payload is a Buffer from SQLite, backed by a plain ArrayBuffer (never a SharedArrayBuffer).
    const body = payload as Uint8Array<ArrayBuffer>;
    const res = await fetch(url, { method: "POST", headers, body, signal: controller.signal });
    const status = res.status;
    if (status >= 200 && status < 300) {
      // Accepted once the status is in: a failure reading the (ignored) body changes nothing.
      await readCapped(res, SUCCESS_BODY_BYTES).catch(() => "");
      return { kind: "ok", status };
    }
    const text = await readCapped(res, ERROR_TEXT_BYTES).catch(() => "");
    if (status === 429 || status >= 500) {
      const outcome: Outcome = { kind: "retry", reason: status === 429 ? "status_429" : "status_5xx", status, message: `HTTP ${status}: ${text}` };
      // Retry-After is defined for 429 and 503 (RFC 6585 §4, RFC 9110 §10.2.3).
      if (status === 429 || status === 503) {
        const after = parseRetryAfter(res.headers.get("retry-after"));
        if (after !== undefined) outcome.retryAfterMs = after;
      }
      return outcome;
    }
    if (status >= 400) return { kind: "dead", status, message: text };
    // 1xx/3xx left after fetch's own redirect handling: the endpoint is misconfigured, not the batch.
    return { kind: "retry", reason: "status_other", status, message: `HTTP ${status}: ${text}` };
  } catch (err) {
    if (timedOut) return { kind: "retry", reason: "timeout", message: `request timed out after ${timeoutMs} ms (remote_timeout)` };
    if (controller.signal.aborted) return { kind: "aborted" };
    return { kind: "retry", reason: "network_error", message: networkMessage(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** undici's `fetch failed` hides the reason in `cause` (ECONNREFUSED, ENOTFOUND, …). */
function networkMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${err.message}: ${code !== undefined ? code + " " : ""}${cause.message}`;
  }
  return err.message;
}
