import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { Config } from "../../config/schema.js";
import { parsePasswordFile } from "./password-file.js";
import { Acl } from "./acl.js";

/**
 * The files the security options name, checked the way the gateway will use
 * them (password file and ACL parsed, certificates and keys loaded into a TLS
 * context), for `--check-config`. One line per problem, naming the key.
 */
export function securityFileProblems(config: Config): string[] {
  const problems: string[] = [];
  const check = (key: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  };
  const { auth, tls } = config.mqtt;
  if (auth.password_file) check("mqtt.auth.password_file", () => parsePasswordFile(readFileSync(auth.password_file!, "utf8"), auth.password_file!));
  if (auth.acl_file) check("mqtt.auth.acl_file", () => new Acl(readFileSync(auth.acl_file!, "utf8"), auth.acl_file!));
  const tlsFiles = (prefix: string, t: { cert_file: string; key_file: string; client_ca_file?: string }) => {
    check(`${prefix}.cert_file / key_file`, () => createSecureContext({ cert: readFileSync(t.cert_file), key: readFileSync(t.key_file) }));
    if (t.client_ca_file) check(`${prefix}.client_ca_file`, () => createSecureContext({ ca: readFileSync(t.client_ca_file!) }));
  };
  if (tls) tlsFiles("mqtt.tls", tls);
  if (config.http.tls_server_config) tlsFiles("http.tls_server_config", config.http.tls_server_config);
  return problems;
}
