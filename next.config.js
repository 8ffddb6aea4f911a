// @ts-check
/** @type {import('next').NextConfig} */
const nextConfig = {
  // A separate build directory lets tests build without clobbering a running dashboard.
  distDir: process.env.LIFEBOAT_NEXT_DIST || ".next",
  // `npm run build:release` (lib/launcher/build-release.ts): a self-contained server with only the
  // node_modules it uses, for the tarball and the container image. Other builds skip the tracing.
  output: process.env.LIFEBOAT_STANDALONE === "1" ? "standalone" : undefined,
  // Native modules and ESM-only server libraries stay out of the bundle (faster build, no bundling bugs).
  serverExternalPackages: ["better-sqlite3", "@kubernetes/client-node", "openpgp", "pino", "s3rver", "zstd-napi", "prom-client", "nodemailer"],
  // `npm test` runs `tsc --noEmit` over the whole project; the build need not type-check twice.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  reactStrictMode: true,
  // Page requests pass through proxy.ts, which makes Next.js buffer their bodies: never more than the
  // 1 MiB the API reads (API routes are not matched by the proxy and stream theirs).
  experimental: { proxyClientMaxBodySize: "1mb" },
  // Every answer: no MIME sniffing, no framing, no Referer to other sites. Pages get their CSP (with a
  // nonce) from proxy.ts; the API's JSON gets one that allows nothing.
  async headers() {
    const everywhere = [
      { key: "X-Content-Type-Options", value: "nosniff" },
      { key: "X-Frame-Options", value: "DENY" },
      { key: "Referrer-Policy", value: "same-origin" },
      { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
    ];
    return [
      { source: "/:path*", headers: everywhere },
      { source: "/api/:path*", headers: [{ key: "Content-Security-Policy", value: "default-src 'none'; frame-ancestors 'none'" }] },
    ];
  },
};

export default nextConfig;
