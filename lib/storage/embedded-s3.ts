import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";

const require = createRequire(import.meta.url);

export interface EmbeddedS3Options {
  /** Where s3rver keeps buckets and objects. */
  directory: string;
  /** Buckets to create at start. */
  buckets: string[];
  /** 0 picks a free port. */
  port?: number;
  address?: string;
  /** Credentials the store accepts (besides s3rver's built-in S3RVER/S3RVER). */
  accessKeyId?: string;
  secretAccessKey?: string;
}

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts s3rver in a child process on loopback and resolves once it listens.
 * Rejects when the process exits or prints nothing within 20 s.
 */
export async function startEmbeddedS3(opts: EmbeddedS3Options): Promise<EmbeddedS3> {
  mkdirSync(opts.directory, { recursive: true });
  const main = require.resolve("./s3rver-main.cjs");
  const child = spawn(process.execPath, ["--openssl-legacy-provider", main, JSON.stringify({ ...opts, port: opts.port ?? 0 })], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`embedded S3 did not start within 20 s: ${stderr}`)), 20_000);
    let buf = "";
    child.stdout!.on("data", (d) => {
      buf += String(d);
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(buf.slice(0, nl)).port);
        } catch (e) {
          reject(e);
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`embedded S3 exited with code ${code}: ${stderr.trim()}`));
    });
  });
  const address = opts.address ?? "127.0.0.1";
  return {
    endpoint: `http://${address}:${port}`,
    port,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      }),
  };
}
