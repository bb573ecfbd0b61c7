/** HTTP basic auth (RFC 7617), shared by the operators' endpoints and the device push endpoint. */

/** `Authorization: Basic …` → user and password, or null. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | null {
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
