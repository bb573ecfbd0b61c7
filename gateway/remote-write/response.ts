/**
 * Reads at most `maxBytes` of a fetch Response body as UTF-8 and discards the
 * rest. Reading (rather than leaving) the body lets undici reuse the connection;
 * the cap keeps a misbehaving receiver from making us buffer megabytes of HTML.
 */
export async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const body = res.body;
  if (body === null) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let complete = false;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) {
        complete = true;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (!complete) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  const bytes = Buffer.concat(chunks);
  // A cut inside a multi-byte character decodes to U+FFFD: acceptable for an error excerpt.
  return bytes.subarray(0, maxBytes).toString("utf8");
}
