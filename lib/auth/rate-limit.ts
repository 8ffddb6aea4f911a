import "server-only";
import type { Db } from "../db/database";

/**
 * Failed sign-ins counted per client address and per user name (whether or not the user exists,
 * so the answer does not tell). Past the limit, sign-in is refused before the password is even
 * checked, until the oldest failure leaves the window. Kept in lifeboat.db (migration 42), so a
 * restart does not forgive them and `npm run users -- reset-password` can.
 */

export interface LimitRule {
  max: number;
  windowMs: number;
}

export const LOGIN_LIMITS = {
  /** Per user name: a person mistyping is fine, a guesser is slowed to a crawl. */
  user: { max: 5, windowMs: 15 * 60_000 },
  /** Per address: one machine trying many names. */
  address: { max: 20, windowMs: 15 * 60_000 },
} satisfies Record<string, LimitRule>;

export class FailureLimiter {
  constructor(
    private readonly db: Db,
    /** Keeps the two limiters' keys apart in the one table ("user", "address"). */
    private readonly scope: string,
    private readonly rule: LimitRule,
  ) {}

  private key(k: string): string {
    return `${this.scope}:${k}`;
  }

  /** Milliseconds until `key` may try again, or 0 when it may now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const times = this.db
      .prepare("SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?")
      .pluck()
      .all(this.key(key), now - this.rule.windowMs, this.rule.max) as number[];
    return times.length >= this.rule.max ? times[this.rule.max - 1] + this.rule.windowMs - now : 0;
  }

  /** Records a failure; returns its row, for `forgive` when it was an attempt that then succeeded. */
  fail(key: string, now = Date.now()): number {
    const row = Number(this.db.prepare("INSERT INTO login_failures (key, at) VALUES (?, ?)").run(this.key(key), now).lastInsertRowid);
    // Old failures go as new ones come: the table holds one window's worth at most.
    this.db.prepare("DELETE FROM login_failures WHERE key LIKE ? AND at <= ?").run(`${this.scope}:%`, now - this.rule.windowMs);
    return row;
  }

  /** Takes back one failure `fail` recorded. */
  forgive(row: number): void {
    this.db.prepare("DELETE FROM login_failures WHERE rowid = ?").run(row);
  }

  clear(key: string): void {
    this.db.prepare("DELETE FROM login_failures WHERE key = ?").run(this.key(key));
  }
}
