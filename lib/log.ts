import "server-only";
import pino, { type Logger } from "pino";

// Keys whose values never reach a log line, whatever object they sit in.
const REDACT = [
  "passphrase",
  "token",
  "authorization",
  "secretAccessKey",
  "accessKeyId",
  "*.passphrase",
  "*.token",
  "*.authorization",
  "*.secretAccessKey",
  "*.accessKeyId",
  "headers.authorization",
  "req.headers.authorization",
];

let root: Logger | undefined;

/** The process's root logger (pino, JSON lines on stdout; LOG_LEVEL sets the level). */
export function rootLogger(): Logger {
  root ??= pino({
    level: process.env.LOG_LEVEL || "info",
    redact: { paths: REDACT, censor: "[redacted]" },
    base: { pid: process.pid },
  });
  return root;
}

/** A child logger for one component, e.g. `logger("catalog")`. */
export function logger(component: string): Logger {
  return rootLogger().child({ component });
}
