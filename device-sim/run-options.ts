/** Turns parsed CLI flags into the library's FleetOptions (reads the TLS files, so errors name the flag). */
import { readFileSync } from "node:fs";
import type { CliOptions } from "./args.js";
import type { ConnectivityOptions } from "./connectivity.js";
import type { FleetOptions } from "./fleet.js";
import type { TlsOptions } from "./link.js";

function readPem(flag: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${flag} ${path}: ${(err as Error).message}`);
  }
}

export function fleetOptions(o: CliOptions, slice?: { first: number; count: number }): FleetOptions {
  const connectivity: Partial<ConnectivityOptions> = {
    ...(o.deadZones ? { deadZones: o.deadZones } : {}),
    ...(o.tunnels ? { tunnels: o.tunnels } : {}),
    ...(o.outages ? { outages: o.outages } : {}),
  };
  let tls: TlsOptions | undefined;
  if (o.ca !== undefined || o.cert !== undefined || o.key !== undefined || o.insecure) {
    const ca = readPem("--ca", o.ca);
    const cert = readPem("--cert", o.cert);
    const key = readPem("--key", o.key);
    tls = { rejectUnauthorized: !o.insecure, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  return {
    url: o.url,
    vehicles: o.vehicles,
    intervalMs: o.intervalMs,
    durationMs: o.durationMs,
    seed: o.seed,
    qos: o.qos,
    topicPrefix: o.topicPrefix,
    fleets: o.fleets,
    connectivity,
    ...(o.mode ? { mode: o.mode } : {}),
    ...(o.ratePerS !== undefined ? { ratePerS: o.ratePerS } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.batchMaxAgeMs !== undefined ? { batchMaxAgeMs: o.batchMaxAgeMs } : {}),
    ...(o.replayBatch !== undefined ? { replayBatch: o.replayBatch } : {}),
    ...(o.bufferSize !== undefined ? { bufferSize: o.bufferSize } : {}),
    ...(o.persistentSession ? { clean: false } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.drainTimeoutMs !== undefined ? { drainTimeoutMs: o.drainTimeoutMs } : {}),
    ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
    ...(tls ? { tls } : {}),
    ...(slice ? slice : {}),
  };
}

/** Vehicles [first, first + count) of worker `index` of `of`: contiguous, sizes differing by at most one. */
export function workerSlice(vehicles: number, index: number, of: number): { first: number; count: number } {
  const first = Math.floor((index * vehicles) / of);
  return { first, count: Math.floor(((index + 1) * vehicles) / of) - first };
}
