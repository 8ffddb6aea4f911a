/**
 * What next.config.js gives every API answer, for the ones the dashboard's front makes itself
 * (lib/http/dashboard-server.ts: Next.js never sees them), plus `cache-control`. front-headers.test.ts
 * keeps the two lists the same.
 */
export const FRONT_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cache-control": "no-store",
};
