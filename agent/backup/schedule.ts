import { Cron, type CronOptions } from "croner";
import { AgentConfigError } from "../config";

/**
 * Scheduled backups. The cron expression (LIFEBOAT_BACKUP_SCHEDULE, default "0 0 * * *" like the
 * seed CronJob) is evaluated in UTC, the same clock as the object names, so "0 0 * * *" makes the
 * set `lifeboat_<date>_00-00-00_…` whatever the host's time zone.
 *
 * UTC as an offset of 0 minutes, not as the time zone "UTC": croner computes a named zone through
 * Intl.DateTimeFormat, which maps ICU's time-zone data into the process (~6.6 MB of RSS that an idle
 * `serve` kept for good, docs/benchmarks.md); an offset is plain arithmetic. UTC has no daylight
 * saving, so both give the same times.
 */
export const UTC_SCHEDULE: Pick<CronOptions, "utcOffset"> = { utcOffset: 0 };

/**
 * Validates a cron expression; throws AgentConfigError naming LIFEBOAT_BACKUP_SCHEDULE, also for one
 * that never comes (`0 0 30 2 *`): croner accepts it and simply never fires, so no backup would run.
 */
export function parseSchedule(expr: string): Cron {
  let cron: Cron;
  try {
    cron = new Cron(expr, { paused: true, ...UTC_SCHEDULE });
  } catch (err) {
    throw new AgentConfigError(
      `LIFEBOAT_BACKUP_SCHEDULE: "${expr}" is not a cron expression (${(err as Error).message}). Use five fields like "0 0 * * *" (daily at 00:00 UTC), or "off".`,
    );
  }
  if (!cron.nextRun()) {
    cron.stop();
    throw new AgentConfigError(
      `LIFEBOAT_BACKUP_SCHEDULE: "${expr}" never comes (no date matches it), so no backup would ever run. Use five fields like "0 0 * * *" (daily at 00:00 UTC), or "off".`,
    );
  }
  return cron;
}

/** The next scheduled run, or null when the schedule is off. Throws AgentConfigError when invalid. */
export function nextScheduledRun(expr: string | null): Date | null {
  if (!expr) return null;
  const c = parseSchedule(expr);
  const next = c.nextRun();
  c.stop();
  return next;
}

/**
 * Runs `fire` on the schedule until `stop()`. A run that overlaps a running backup is the caller's to
 * skip (the job registry refuses a second backup). Throws AgentConfigError when the expression is invalid.
 */
export function startSchedule(expr: string, fire: () => void): { stop(): void; nextRun(): Date | null } {
  parseSchedule(expr).stop();
  const job = new Cron(expr, { ...UTC_SCHEDULE, protect: true }, fire);
  return { stop: () => job.stop(), nextRun: () => job.nextRun() };
}
