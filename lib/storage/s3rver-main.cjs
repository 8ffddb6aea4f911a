// Child-process entry for the embedded S3-compatible store (s3rver).
// Runs in its own process because s3rver's paginated listing needs Node's legacy OpenSSL provider
// (its continuation tokens use DES), which the parent sets with --openssl-legacy-provider.
// Input: one JSON line in argv[2]. Output: one JSON line {"port":N} on stdout once listening.
"use strict";
const S3rver = require("s3rver");
const Account = require("s3rver/lib/models/account");

const opts = JSON.parse(process.argv[2]);
if (opts.accessKeyId && opts.secretAccessKey && opts.accessKeyId !== "S3RVER") {
  Account.DUMMY_ACCOUNT.createKeyPair(opts.accessKeyId, opts.secretAccessKey);
}
const server = new S3rver({
  address: opts.address || "127.0.0.1",
  port: opts.port || 0,
  directory: opts.directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: (opts.buckets || []).map((name) => ({ name })),
});
server.run().then(
  (addr) => {
    process.stdout.write(JSON.stringify({ port: addr.port }) + "\n");
  },
  (err) => {
    process.stderr.write(`s3rver failed to start: ${err && err.message}\n`);
    process.exit(1);
  },
);
const shutDown = () => server.close().finally(() => process.exit(0));
process.on("SIGTERM", shutDown);
process.on("SIGINT", shutDown);
// Exit with the parent: a test runner or launcher that dies must not leave the store running.
process.on("disconnect", shutDown);
