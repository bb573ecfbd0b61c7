import type { RemoteWriteConfig } from "../config/schema.js";

/** Lower-cased names of the headers the spec fixes (Remote-Write 1.0, "Protocol": users MUST NOT be able to override them). */
const PROTOCOL_HEADERS = new Set(["content-encoding", "content-type", "x-prometheus-remote-write-version", "user-agent"]);

export interface BuiltRequest {
  /** The endpoint without user info (fetch refuses URLs with credentials; status and logs must not show them). */
  url: string;
  headers: Record<string, string>;
  /** Config headers that were not sent, with why (to be logged once). */
  refused: { name: string; reason: string }[];
}

/**
 * Headers of every request to one target, built once: the four protocol headers,
 * then the user's `headers` (never replacing a protocol header), then
 * `Authorization` from `basic_auth`, `bearer_token`, or user info in the URL.
 */
export function buildRequest(config: RemoteWriteConfig, userAgent: string): BuiltRequest {
  const headers: Record<string, string> = {};
  const refused: { name: string; reason: string }[] = [];
  for (const [name, value] of Object.entries(config.headers)) {
    const lower = name.toLowerCase();
    if (PROTOCOL_HEADERS.has(lower)) {
      refused.push({ name, reason: "a Remote-Write protocol header cannot be overridden" });
      continue;
    }
    if (lower === "authorization" && (config.basic_auth !== undefined || config.bearer_token !== undefined)) {
      refused.push({ name, reason: "basic_auth / bearer_token is set and wins" });
      continue;
    }
    headers[lower] = value;
  }

  const url = new URL(config.url);
  let basic = config.basic_auth;
  if (url.username !== "" || url.password !== "") {
    basic ??= { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    url.username = "";
    url.password = "";
  }
  if (basic !== undefined) {
    headers.authorization = "Basic " + Buffer.from(`${basic.username}:${basic.password}`).toString("base64");
  } else if (config.bearer_token !== undefined) {
    headers.authorization = "Bearer " + config.bearer_token;
  }

  headers["content-encoding"] = "snappy";
  headers["content-type"] = "application/x-protobuf";
  headers["x-prometheus-remote-write-version"] = "0.1.0";
  headers["user-agent"] = userAgent;
  return { url: url.toString(), headers, refused };
}
