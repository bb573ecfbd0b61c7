import { readFileSync } from "node:fs";
import type { RemoteWriteConfig } from "../config/schema.js";
import type { RemoteWriteAuthMethod } from "../config/schema-remote-write.js";
import { SigV4Signer } from "./sigv4.js";

/** Lower-cased names of the headers the spec fixes (Remote-Write 1.0, "Protocol": users MUST NOT be able to override them). */
const PROTOCOL_HEADERS = new Set(["content-encoding", "content-type", "x-prometheus-remote-write-version", "user-agent"]);
/** Set by the transport or meaningless per request (hop-by-hop, RFC 9110 §7.6.1); Prometheus refuses them in `headers` too. */
const TRANSPORT_HEADERS = new Set(["host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization", "expect"]);
/** Written by the SigV4 signer. */
const SIGV4_HEADERS = new Set(["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]);

export interface BuiltRequest {
  /** The endpoint without user info (status and logs must not show credentials). */
  url: string;
  /** Headers that do not change between requests. */
  headers: Record<string, string>;
  /** Adds per-request authorization (a token or password read from its file, a SigV4 signature); returns the headers to send. */
  authorize: (body: Uint8Array) => Promise<Record<string, string>>;
  /** Config headers that were not sent, with why (to be logged once). */
  refused: { name: string; reason: string }[];
}

/**
 * Headers of every request to one target: the four protocol headers, the
 * user's `headers` (never replacing a protocol, transport or authorization
 * header), then `Authorization` from `basic_auth` (password or password_file),
 * `bearer_token` / `bearer_token_file`, user info in the URL, or a SigV4
 * signature. Files are read at every request, as Prometheus does, so a rotated
 * secret is picked up without a restart.
 */
export function buildRequest(config: RemoteWriteConfig, userAgent: string, env: NodeJS.ProcessEnv = process.env): BuiltRequest {
  const headers: Record<string, string> = {};
  const refused: { name: string; reason: string }[] = [];
  const hasAuth = (Object.keys(AUTH) as RemoteWriteAuthMethod[]).some((k) => config[k] !== undefined);
  for (const [name, value] of Object.entries(config.headers)) {
    const lower = name.toLowerCase();
    let reason: string | undefined;
    if (PROTOCOL_HEADERS.has(lower)) reason = "a Remote-Write protocol header cannot be overridden";
    else if (TRANSPORT_HEADERS.has(lower)) reason = "set by the HTTP transport";
    else if (lower === "authorization" && hasAuth) reason = "basic_auth / bearer_token / sigv4 is set and wins";
    else if (config.sigv4 !== undefined && SIGV4_HEADERS.has(lower)) reason = "written by the sigv4 signer";
    if (reason !== undefined) refused.push({ name, reason });
    else headers[lower] = value;
  }

  const url = new URL(config.url);
  if (config.basic_auth === undefined && (url.username !== "" || url.password !== "")) {
    // User info in the URL is basic auth, as in Prometheus; it never goes out in the URL itself.
    config = { ...config, basic_auth: { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } };
  }
  url.username = "";
  url.password = "";
  const method = (Object.keys(AUTH) as RemoteWriteAuthMethod[]).find((k) => config[k] !== undefined);
  const auth = method === undefined ? undefined : AUTH[method](config);
  if (auth?.header !== undefined) headers.authorization = auth.header;
  const dynamic = auth?.perRequest;

  headers["content-encoding"] = "snappy";
  headers["content-type"] = "application/x-protobuf";
  headers["x-prometheus-remote-write-version"] = "0.1.0";
  headers["user-agent"] = userAgent;

  const signer = config.sigv4 !== undefined ? sharedSigner(config.sigv4, env) : undefined;
  let authorize: BuiltRequest["authorize"];
  if (signer !== undefined) authorize = (body) => signer.sign(url, headers, body);
  else if (dynamic !== undefined) {
    const get = dynamic;
    authorize = () => Promise.resolve({ ...headers, authorization: get() });
  } else authorize = () => Promise.resolve(headers);
  return { url: url.toString(), headers, authorize, refused };
}

/** What one method adds to a request: a fixed `Authorization` header, or one computed per request (a rotated secret file). SigV4 signs in buildRequest. */
type Authorization = { header?: string; perRequest?: () => string };

/** One implementation per method of REMOTE_WRITE_AUTH_METHODS (a method without one does not compile). */
const AUTH: { [K in RemoteWriteAuthMethod]: (config: RemoteWriteConfig) => Authorization } = {
  basic_auth(config) {
    const { username, password, password_file: file } = config.basic_auth!;
    if (file !== undefined) return { perRequest: () => "Basic " + Buffer.from(`${username}:${readSecret(file, "basic_auth.password_file")}`).toString("base64") };
    return { header: "Basic " + Buffer.from(`${username}:${password ?? ""}`).toString("base64") };
  },
  bearer_token: (config) => ({ header: "Bearer " + config.bearer_token! }),
  bearer_token_file(config) {
    const file = config.bearer_token_file!;
    return { perRequest: () => "Bearer " + readSecret(file, "bearer_token_file") };
  },
  sigv4: () => ({}),
};

/** A secret file's content without the trailing newline an editor adds. */
function readSecret(file: string, key: string): string {
  try {
    return readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * One signer per target's sigv4 config, shared by the target's shards (they get
 * the same config object), so assumed-role credentials are fetched and cached
 * once per target rather than once per shard.
 */
const signers = new WeakMap<object, { env: NodeJS.ProcessEnv; signer: SigV4Signer }>();
function sharedSigner(cfg: NonNullable<RemoteWriteConfig["sigv4"]>, env: NodeJS.ProcessEnv): SigV4Signer {
  const hit = signers.get(cfg);
  if (hit !== undefined && hit.env === env) return hit.signer;
  const signer = new SigV4Signer(cfg, env);
  signers.set(cfg, { env, signer });
  return signer;
}
