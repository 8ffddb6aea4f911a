import { ERROR_STATUS } from "./domain-error";

/**
 * The answer, as raw HTTP, to a request Node.js's parser refused before any handler saw it (the
 * server's `clientError`): a head over its 16 KiB limit (a URL or header that long) is 431
 * `header_too_large`, anything else that is not HTTP 400 `bad_request`, both `{ code, message }`
 * JSON with `connection: close` rather than Node.js's bare status line; a request that timed out
 * keeps Node.js's 408. Both servers (the agent's router, the dashboard's front) answer with it.
 */
export function clientErrorAnswer(errCode: string | undefined, headers: Record<string, string> = {}): string {
  if (errCode === "ERR_HTTP_REQUEST_TIMEOUT") return "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
  const code = errCode === "HPE_HEADER_OVERFLOW" ? "header_too_large" : "bad_request";
  const message =
    code === "header_too_large"
      ? "The request's URL or headers are over 16 KiB, more than this server reads; nothing was done. Send long data in a body."
      : "The request is not valid HTTP; nothing was done.";
  const body = JSON.stringify({ code, message });
  const status = ERROR_STATUS[code];
  const head = {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(new TextEncoder().encode(body).length),
    connection: "close",
  };
  return `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\n${Object.entries(head)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n${body}`;
}
