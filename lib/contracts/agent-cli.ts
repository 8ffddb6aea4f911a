import { z } from "zod";

/**
 * The line `lifeboat-agent serve` prints on stdout once it listens,
 * `{"listening":"https://HOST:PORT","fingerprint":"AB:…"}`: launchers, tests and benchmarks that
 * start an agent on port 0 learn its URL — and the fingerprint to pin — from it.
 */
export const ListeningLine = z.object({ listening: z.string().min(1), fingerprint: z.string().optional() });
export type ListeningLine = z.infer<typeof ListeningLine>;

/** The listening line for `url` (and the certificate's fingerprint when it answers HTTPS). */
export function formatListeningLine(url: string, fingerprint?: string): string {
  return JSON.stringify({ listening: url, ...(fingerprint ? { fingerprint } : {}) } satisfies ListeningLine);
}

/** The listening line's content when `line` is one, else null. Never throws. */
export function parseListeningInfo(line: string): ListeningLine | null {
  const text = line.trim();
  if (!text.startsWith("{")) return null;
  try {
    const parsed = ListeningLine.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The agent's URL when `line` is its listening line, else null. Never throws. */
export function parseListeningLine(line: string): string | null {
  return parseListeningInfo(line)?.listening ?? null;
}
