import "server-only";

/**
 * Failed sign-ins counted per client address and per user name (whether or not the user exists,
 * so the answer does not tell). Past the limit, sign-in is refused before the password is even
 * checked, until the oldest failure leaves the window. In memory: a restart forgives, which the
 * person who can restart the dashboard may do anyway.
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
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly rule: LimitRule) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.rule.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Milliseconds until `key` may try again, or 0 when it may now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const list = this.recent(key, now);
    return list.length >= this.rule.max ? list[list.length - this.rule.max] + this.rule.windowMs - now : 0;
  }

  fail(key: string, now = Date.now()): void {
    this.failures.set(key, [...this.recent(key, now), now]);
    // Bound the memory a flood of distinct names could take.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }

  clear(key: string): void {
    this.failures.delete(key);
  }
}
