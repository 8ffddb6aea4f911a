import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface ApiCertificates {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * Generates, with the `openssl` CLI, a CA and a server certificate it signs for 127.0.0.1/localhost,
 * the way a k3s server's API certificate is signed by its own CA (k3s names it k3s-server-ca). Node's
 * crypto can parse X.509 but not issue it, so the CLI is required. Throws naming the missing tool.
 */
export function generateCertificates(dir: string): ApiCertificates {
  const f = (name: string) => path.join(dir, name);
  const run = (args: string[]) => {
    try {
      execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      if (err.code === "ENOENT")
        throw new Error("The simulated Kubernetes API server needs the `openssl` command to make its TLS certificates: apt-get install -y openssl");
      throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() ?? err.message}`);
    }
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.crt"),
    "-days",
    "3650",
    "-subj",
    "/CN=k3s-server-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  run(["req", ...ec, "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/O=k3s/CN=k3s"]);
  writeFileSync(
    f("server.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n",
  );
  run([
    "x509",
    "-req",
    "-in",
    f("server.csr"),
    "-CA",
    f("ca.crt"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("server.crt"),
    "-days",
    "3650",
    "-extfile",
    f("server.ext"),
  ]);
  return { caPem: readFileSync(f("ca.crt"), "utf8"), certPem: readFileSync(f("server.crt"), "utf8"), keyPem: readFileSync(f("server.key"), "utf8") };
}
