import "server-only";
import nodemailer from "nodemailer";
import type { ChannelSettings } from "../contracts/alerts";
import { mailFor, requestFor } from "./formats";
import type { AttemptResult, Channel, Message } from "./types";

/**
 * One attempt to deliver one message on one channel: HTTP with fetch, e-mail with nodemailer. Never
 * throws: the result says whether it worked and whether trying again could help. Nothing here puts
 * a URL's path, a token or a password into `detail` (the delivery log and pino see it).
 */

/** `https://hooks.slack.com/…`: scheme and host only, for logs. Never the path (Slack, Discord and ntfy keep their secret there). */
export function logTarget(settings: ChannelSettings): string {
  if (settings.type === "email") return `smtp://${settings.host}:${settings.port}`;
  try {
    const u = new URL(settings.url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return "(invalid URL)";
  }
}

/**
 * Where a channel sends, for the settings page: the host and only the last 4 characters of a secret
 * path (`https://hooks.slack.com/…x9Qz`); Gotify's server URL (not a secret) without user info; an
 * e-mail channel's server and recipients.
 */
export function displayTarget(settings: ChannelSettings): string {
  if (settings.type === "email") return `${settings.to} via ${settings.host}:${settings.port}`;
  try {
    const u = new URL(settings.url);
    if (settings.type === "gotify") return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
    const tail = (u.pathname + u.search).replace(/\/+$/, "");
    return `${u.protocol}//${u.host}/…${tail.length > 8 ? tail.slice(-4) : ""}`;
  } catch {
    return "(invalid URL)";
  }
}

const retryableStatus = (s: number) => s === 408 || s === 425 || s === 429 || s >= 500;

/**
 * Why fetch failed, in words, and whether another attempt may help. Only a network failure (undici's
 * "fetch failed": refused, reset, DNS, TLS) or the timeout may heal; anything else (a request that
 * cannot even be built: a bad header value, a URL fetch refuses) fails the same way every time and
 * is final. The socket's code or the error's words, never the URL (its path or user info are secrets).
 */
function fetchFailure(err: unknown, timedOut: boolean): { detail: string; retryable: boolean } {
  if (timedOut) return { detail: "no answer in time", retryable: true };
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  if (e?.name === "TypeError" && e.message === "fetch failed") return { detail: e.cause?.code ? `no answer (${e.cause.code})` : "no answer", retryable: true };
  const words = String(e?.message ?? err)
    .replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, "(the URL)")
    .slice(0, 200);
  return { detail: `cannot send: ${words}`, retryable: false };
}

async function sendHttp(settings: ChannelSettings, m: Message, timeoutMs: number): Promise<AttemptResult> {
  const t0 = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const spec = requestFor(settings, m);
    const res = await fetch(spec.url, { method: spec.method, headers: spec.headers, body: spec.body, signal: timeout, redirect: "manual" });
    // The body is not ours to keep (a receiver may echo what it got, or answer with megabytes): never
    // read it; cancelling closes the connection instead of downloading whatever it is.
    await res.body?.cancel().catch(() => undefined);
    const millis = performance.now() - t0;
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, detail: null, retryable: false, millis };
    const detail =
      res.status >= 300 && res.status < 400
        ? `HTTP ${res.status}: the receiver redirects; use the final URL`
        : res.status === 401 || res.status === 403
          ? `HTTP ${res.status}: the receiver refused the credentials (token or URL)`
          : res.status === 404
            ? "HTTP 404: no such webhook or topic (check the URL)"
            : `HTTP ${res.status}`;
    return { ok: false, status: res.status, detail, retryable: retryableStatus(res.status), millis };
  } catch (err) {
    return { ok: false, status: null, ...fetchFailure(err, timeout.aborted), millis: performance.now() - t0 };
  }
}

async function sendMail(settings: Extract<ChannelSettings, { type: "email" }>, m: Message, timeoutMs: number): Promise<AttemptResult> {
  const t0 = performance.now();
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.security === "tls",
    requireTLS: settings.security === "starttls",
    ignoreTLS: settings.security === "none",
    auth: settings.username ? { user: settings.username, pass: settings.password ?? "" } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    // nodemailer's own logger stays off: it would print the AUTH exchange.
    logger: false,
    debug: false,
  });
  const mail = mailFor(m);
  try {
    const info = await transport.sendMail({ from: settings.from, to: settings.to, subject: mail.subject, text: mail.text });
    const code = Number(/^(\d{3})/.exec(String(info.response ?? ""))?.[1] ?? 250);
    return { ok: true, status: code, detail: null, retryable: false, millis: performance.now() - t0 };
  } catch (err) {
    const e = err as { responseCode?: number; code?: string; command?: string; message?: string };
    const status = typeof e.responseCode === "number" ? e.responseCode : null;
    // nodemailer's messages quote the server's reply (never the password); keep it short.
    const detail =
      e.code === "EAUTH"
        ? `the SMTP server refused the login${status ? ` (${status})` : ""}`
        : status
          ? `SMTP ${status}${e.command ? ` after ${e.command}` : ""}: ${String(e.message ?? "").slice(0, 200)}`
          : `no answer from ${settings.host}:${settings.port} (${e.code ?? "error"})`;
    return { ok: false, status, detail, retryable: status === null || (status >= 400 && status < 500), millis: performance.now() - t0 };
  } finally {
    transport.close();
  }
}

/** Sends `m` on `channel` once (default timeout 10 s). Never throws. */
export function attempt(channel: Channel, m: Message, timeoutMs = 10_000): Promise<AttemptResult> {
  return channel.settings.type === "email" ? sendMail(channel.settings, m, timeoutMs) : sendHttp(channel.settings, m, timeoutMs);
}
