import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { Readable } from "node:stream";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { S3BackupStore } from "./s3-backup-store";
import { listAll } from "./backup-store";
import { runBackupStoreContract, randomStream, sha256OfStream } from "./backup-store.contract";
import { startEmbeddedS3, type EmbeddedS3 } from "./embedded-s3";
import { NotFoundError, StorageError } from "./errors";
import { freePort } from "../net/ports";

let s3: EmbeddedS3;
let n = 0;
const creds = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" };

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: mkdtempSync(path.join(tmpdir(), "lifeboat-s3-")), buckets: ["contract", "many", "other"] });
});
afterAll(async () => {
  await s3?.stop();
});

// Each contract case gets its own prefix so cases do not see each other's objects.
runBackupStoreContract("S3BackupStore on s3rver", () => new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: "contract", prefix: `run-${++n}/` }));

describe("S3BackupStore", () => {
  it("lists 2,500 objects across pages (ListObjectsV2 pagination)", async () => {
    const store = new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: "many", prefix: "k3s" });
    // Fill through the raw client in parallel batches: the store is not what is being tested here.
    const keys = Array.from({ length: 2500 }, (_, i) => `k3s/state_${String(i).padStart(5, "0")}.db.gpg`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((Key) => store.client.send(new PutObjectCommand({ Bucket: "many", Key, Body: "x" }))));
    }
    const pageSizes: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ cursor });
      pageSizes.push(page.objects.length);
      cursor = page.nextCursor;
    } while (cursor);
    expect(pageSizes).toEqual([1000, 1000, 500]);
    const seen: string[] = [];
    for await (const o of listAll(store)) seen.push(o.key);
    expect(seen).toHaveLength(2500);
    expect(seen[0]).toBe("state_00000.db.gpg");
    expect(new Set(seen).size).toBe(2500);
  });

  it("an unreachable endpoint is a StorageError naming the endpoint, not the keys", async () => {
    const port = await freePort();
    const store = new S3BackupStore({
      ...creds,
      accessKeyId: "AKIASECRETVALUE",
      secretAccessKey: "verysecret",
      endpoint: `http://127.0.0.1:${port}`,
      bucket: "b",
      maxAttempts: 1,
    });
    const err = await store.list().catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.failure).toBe("unreachable");
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain("verysecret");
    expect(err.message).not.toContain("AKIASECRETVALUE");
  });

  it("a missing bucket is reported as such", async () => {
    const store = new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: "no-such-bucket" });
    const err = await store.list().catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.failure).toBe("no_bucket");
    expect(err.message).toMatch(/no-such-bucket.*does not exist/);
  });

  it("wrong credentials are reported as an access problem without echoing the secret", async () => {
    const store = new S3BackupStore({ ...creds, accessKeyId: "WRONGKEY", secretAccessKey: "wrong-secret-xyz", endpoint: s3.endpoint, bucket: "other" });
    const err = await store.list().catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.failure).toBe("auth");
    expect(err.message).not.toContain("wrong-secret-xyz");
    await expect(store.put("x", Readable.from([Buffer.from("x")]))).rejects.toMatchObject({ failure: "auth" });
  });
  describe("put: parts from a fixed pool of buffers", () => {
    const PART = 5 * 1024 * 1024;
    const store = () => new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: "other", prefix: "parts", partSize: PART });

    for (const [name, size] of [
      ["empty", 0],
      ["one byte under a part", PART - 1],
      ["exactly one part (one PutObject)", PART],
      ["exactly three parts (the last part is not empty)", 3 * PART],
      ["three parts and a byte", 3 * PART + 1],
    ] as const) {
      it(`${name}: the same bytes come back, progress reaches the size`, async () => {
        const key = `sized-${size}`;
        const { stream, sha256 } = randomStream(size, size + 3);
        const seen: number[] = [];
        await store().put(key, stream, { onProgress: (n) => seen.push(n) });
        expect((await store().head(key)).size).toBe(size);
        expect(await sha256OfStream(await store().get(key))).toBe(await sha256);
        expect(seen.at(-1)).toBe(size);
        expect([...seen].sort((a, b) => a - b)).toEqual(seen);
      });
    }

    it("the source fails after two parts went out: the multipart upload is aborted, no object is left", async () => {
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent >= 2 * PART + 123) return void this.destroy(new Error("zstd: corrupted block"));
          const n = 1 << 20;
          sent += n;
          this.push(Buffer.alloc(n, sent & 0xff));
        },
      });
      const err = await store()
        .put("half", failing)
        .catch((e) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(err.message).toMatch(/the source stream failed: zstd: corrupted block/);
      await expect(store().head("half")).rejects.toBeInstanceOf(NotFoundError);
    });
  });
});

describe("S3BackupStore against a store that stops answering", () => {
  /** A loopback HTTP "store": `answer` decides what each request gets (the socket is never closed by it). */
  async function hangingStore(answer: (socket: Socket) => void): Promise<{ endpoint: string; requests: () => number; close: () => Promise<void> }> {
    let count = 0;
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      let seen = "";
      const onData = (d: Buffer) => {
        seen += d.toString("latin1");
        if (!seen.includes("\r\n\r\n")) return;
        socket.off("data", onData);
        count++;
        answer(socket);
      };
      socket.on("data", onData);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      requests: () => count,
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  it("a request the store accepts and never answers fails after the idle timeout, each attempt, with a sentence", async () => {
    const store0 = await hangingStore(() => {});
    try {
      const store = new S3BackupStore({ ...creds, endpoint: store0.endpoint, bucket: "b", idleTimeoutMs: 400, maxAttempts: 2 });
      const started = Date.now();
      const err = await store.head("k3s/state.db.gpg").catch((e) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(err.message).toMatch(/did not answer for 0\.4 s/);
      expect(store0.requests()).toBe(2);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await store0.close();
    }
  }, 15_000);

  it("a download whose body stops after the headers fails after the idle timeout instead of waiting for ever", async () => {
    const store0 = await hangingStore((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n");
      socket.write(Buffer.alloc(1000, 7));
    });
    try {
      const store = new S3BackupStore({ ...creds, endpoint: store0.endpoint, bucket: "b", idleTimeoutMs: 400, maxAttempts: 1 });
      const body = await store.get("k3s/state.db.gpg");
      const err = await (async () => {
        for await (const _chunk of body) void _chunk;
      })().catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(String(err.message)).toMatch(/inactivity/);
    } finally {
      await store0.close();
    }
  }, 15_000);

  it("a slow download that keeps moving is not cut off: the timeout is on inactivity, not on the whole transfer", async () => {
    const chunks = 12;
    const store0 = await hangingStore((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${chunks * 1000}\r\n\r\n`);
      let sent = 0;
      const timer = setInterval(() => {
        socket.write(Buffer.alloc(1000, 7));
        if (++sent === chunks) clearInterval(timer);
      }, 150);
      socket.on("close", () => clearInterval(timer));
    });
    try {
      const store = new S3BackupStore({ ...creds, endpoint: store0.endpoint, bucket: "b", idleTimeoutMs: 400, maxAttempts: 1 });
      const started = Date.now();
      let bytes = 0;
      for await (const chunk of await store.get("k3s/state.db.gpg")) bytes += (chunk as Buffer).length;
      expect(bytes).toBe(chunks * 1000);
      // Longer in all than the idle timeout, several times over.
      expect(Date.now() - started).toBeGreaterThan(1500);
    } finally {
      await store0.close();
    }
  }, 15_000);
});
