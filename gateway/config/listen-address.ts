/**
 * Splits "host:port" / "[::1]:port" for net/fastify listen(). An empty host
 * means all interfaces; port 0 asks the OS for an ephemeral port. Throws an
 * Error quoting the bad value. The config schema validates `listen` keys with
 * this same function, so an address `--check-config` accepts is one the
 * gateway can bind (CLI flags such as `receive --listen` reach here directly).
 */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]\s]+)\]|([^\s:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`must be host:port (e.g. 127.0.0.1:9201), got ${JSON.stringify(addr)}`);
  const host = m[1] ?? m[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/** "127.0.0.1:1883" / "[::1]:1883" from a bound address. */
export function formatListen(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
