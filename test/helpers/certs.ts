import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** Paths of a throw-away PKI made by the real openssl CLI. */
export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Client certificates signed by `ca`, by CN. */
  client(cn: string): { cert: string; key: string };
  /** A client certificate for `cn` signed by a different CA (a revoked or forged device). */
  rogue(cn: string): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** CA, server certificate for localhost/127.0.0.1, and client certificates on demand, in `dir`. */
export function makePki(dir: string): TestPki {
  const p = (f: string) => join(dir, f);
  const ca = (name: string) => {
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${name}`], dir);
  };
  ca("ca");
  ca("rogue-ca");
  writeFileSync(p("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  writeFileSync(p("client.ext"), "extendedKeyUsage=clientAuth\n");
  const sign = (name: string, cn: string, by: string, ext: string) => {
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${by}.crt`, "-CAkey", `${by}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", ext], dir);
    return { cert: p(`${name}.crt`), key: p(`${name}.key`) };
  };
  sign("server", "localhost", "ca", "server.ext");
  return {
    ca: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    client: (cn) => sign(`client-${cn}`, cn, "ca", "client.ext"),
    rogue: (cn) => sign(`rogue-${cn}`, cn, "rogue-ca", "client.ext"),
  };
}
