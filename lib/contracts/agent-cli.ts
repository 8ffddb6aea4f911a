import { z } from "zod";

/**
 * The line `lifeboat-agent serve` prints on stdout once it listens, `{"listening":"http://HOST:PORT"}`:
 * launchers, tests and benchmarks that start an agent on port 0 learn its URL from it.
 */
export const ListeningLine = z.object({ listening: z.string().min(1) });
export type ListeningLine = z.infer<typeof ListeningLine>;

/** The listening line for `url`. */
export function formatListeningLine(url: string): string {
  return JSON.stringify({ listening: url } satisfies ListeningLine);
}

/** The agent's URL when `line` is its listening line, else null. Never throws. */
export function parseListeningLine(line: string): string | null {
  const text = line.trim();
  if (!text.startsWith("{")) return null;
  try {
    const parsed = ListeningLine.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data.listening : null;
  } catch {
    return null;
  }
}
