// One behaviour suite for every BackupStore: each backend's test file calls runBackupStoreContract.
import { describe, it, expect } from "vitest";
import { Readable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import { listAll, type BackupStore } from "./backup-store";
import { InvalidKeyError, NotFoundError } from "./errors";

export async function sha256OfStream(s: Readable): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of s) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** A stream of `total` pseudo-random bytes produced in 64 KiB chunks (never held in memory at once). */
export function randomStream(total: number, seed = 1): { stream: Readable; sha256: Promise<string> } {
  const h = createHash("sha256");
  let done = 0;
  let state = seed >>> 0;
  let resolveHash!: (s: string) => void;
  const sha256 = new Promise<string>((r) => (resolveHash = r));
  const stream = new Readable({
    read() {
      if (done >= total) {
        resolveHash(h.digest("hex"));
        this.push(null);
        return;
      }
      const n = Math.min(65536, total - done);
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i += 4) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        if (i <= n - 4) buf.writeUInt32LE(state, i);
        else for (let j = i; j < n; j++) buf[j] = (state >>> (8 * (j - i))) & 0xff; // a chunk of fewer than 4 bytes
      }
      done += n;
      h.update(buf);
      this.push(buf);
    },
  });
  return { stream, sha256 };
}

export function runBackupStoreContract(name: string, makeStore: () => Promise<BackupStore> | BackupStore): void {
  describe(`BackupStore contract: ${name}`, () => {
    it("put then head, get and list return the same object", async () => {
      const store = await makeStore();
      const body = randomBytes(1234);
      await store.put("a/one.bin", Readable.from([body]));
      const head = await store.head("a/one.bin");
      expect(head.size).toBe(1234);
      expect(head.lastModified.getTime()).toBeGreaterThan(Date.now() - 10 * 60_000);
      const got = await sha256OfStream(await store.get("a/one.bin"));
      expect(got).toBe(createHash("sha256").update(body).digest("hex"));
      const page = await store.list({ prefix: "a/" });
      expect(page.objects.map((o) => o.key)).toEqual(["a/one.bin"]);
    });

    it("head and get reject with NotFoundError for a missing key", async () => {
      const store = await makeStore();
      await expect(store.head("missing/nothing.gpg")).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.get("missing/nothing.gpg")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("refuses keys with . or .. segments or control characters before touching anything", async () => {
      const store = await makeStore();
      await store.put("k3s/state_ok.db.gpg", Readable.from([Buffer.from("x")]));
      for (const key of ["../outside", "k3s/../../etc/passwd", "k3s/./x", "a\nb", "k3s/\u0000x", "tab\there"]) {
        await expect(store.head(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.put(key, Readable.from([Buffer.from("x")]))).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.delete(key)).rejects.toBeInstanceOf(InvalidKeyError);
      }
      const keys: string[] = [];
      for await (const o of listAll(store)) keys.push(o.key);
      expect(keys).toEqual(["k3s/state_ok.db.gpg"]);
      await store.delete("k3s/state_ok.db.gpg");
    });

    it("delete removes an object and is quiet for a missing one", async () => {
      const store = await makeStore();
      await store.put("del/x", Readable.from([Buffer.from("x")]));
      await store.delete("del/x");
      await expect(store.head("del/x")).rejects.toBeInstanceOf(NotFoundError);
      await store.delete("del/x");
    });

    it("pages through a listing in key order with cursors", async () => {
      const store = await makeStore();
      const keys = Array.from({ length: 25 }, (_, i) => `page/k${String(i).padStart(3, "0")}`);
      for (const k of keys) await store.put(k, Readable.from([Buffer.from(k)]));
      const first = await store.list({ prefix: "page/", pageSize: 10 });
      expect(first.objects).toHaveLength(10);
      expect(first.nextCursor).toBeTruthy();
      const seen: string[] = [];
      for await (const o of listAll(store, { prefix: "page/", pageSize: 10 })) seen.push(o.key);
      expect(seen).toEqual(keys);
    });

    it("lists only keys after startAfter, in key order, with a prefix and across pages", async () => {
      const store = await makeStore();
      const keys = ["after/k3s_db_2024-12-01.gpg", "after/lifeboat_2024-12-01_a", "after/lifeboat_2024-12-02_a", "after/lifeboat_2024-12-02_b"];
      for (let i = 0; i < 12; i++) keys.push(`after/lifeboat_2024-12-${String(3 + i).padStart(2, "0")}_a`);
      keys.push("after/state_2024-12-01.gpg");
      for (const k of keys) await store.put(k, Readable.from([Buffer.from(k)]));
      const seen = async (opts: Parameters<typeof listAll>[1]) => {
        const out: string[] = [];
        for await (const o of listAll(store, opts)) out.push(o.key);
        return out;
      };
      const lifeboat = keys.filter((k) => k.startsWith("after/lifeboat_")).sort();
      // A bound that is not itself a key: everything of the prefix that sorts after it.
      expect(await seen({ prefix: "after/lifeboat_", startAfter: "after/lifeboat_2024-12-02" })).toEqual(lifeboat.slice(1));
      // A bound that is a key: strictly after it.
      expect(await seen({ prefix: "after/lifeboat_", startAfter: "after/lifeboat_2024-12-02_a" })).toEqual(lifeboat.slice(2));
      // Across pages (the cursor continues past the bound).
      expect(await seen({ prefix: "after/lifeboat_", startAfter: "after/lifeboat_2024-12-02", pageSize: 5 })).toEqual(lifeboat.slice(1));
      // Without a prefix, keys of other series after the bound come too; none before it.
      expect(await seen({ prefix: "after/", startAfter: "after/lifeboat_2024-12-14_a" })).toEqual(["after/state_2024-12-01.gpg"]);
      expect(await seen({ prefix: "after/", startAfter: "after/zzz" })).toEqual([]);
    });

    it("streams a multi-megabyte object both ways with the same sha256", async () => {
      const store = await makeStore();
      const { stream, sha256 } = randomStream(11 * 1024 * 1024 + 17, 7);
      let progress = 0;
      await store.put("big/blob.bin", stream, { onProgress: (b) => (progress = b) });
      expect(progress).toBeGreaterThan(0);
      expect((await store.head("big/blob.bin")).size).toBe(11 * 1024 * 1024 + 17);
      expect(await sha256OfStream(await store.get("big/blob.bin"))).toBe(await sha256);
    });

    it("a source stream that fails leaves no object behind", async () => {
      const store = await makeStore();
      const failing = new Readable({
        read() {
          this.destroy(new Error("disk read error"));
        },
      });
      await expect(store.put("broken/obj", failing)).rejects.toThrow(/disk read error|source stream/);
      await expect(store.head("broken/obj")).rejects.toBeInstanceOf(NotFoundError);
    });
  });
}
