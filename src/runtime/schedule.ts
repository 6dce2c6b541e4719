/** Cron schedules (five fields, UTC) for Deno Deploy, where each connector runs from a cron job. */

/** Schedule used when a connector has neither a cron nor a period: every hour. */
export const FALLBACK_SCHEDULE = "0 * * * *";

/**
 * A five-field cron schedule (UTC) close to a period: every N minutes, hours or days, at least
 * every minute. Periods that do not divide the hour (or day) restart at each hour (or month).
 */
export function scheduleFromPeriod(periodMs: number): string {
  const minutes = Math.max(1, Math.round(periodMs / 60_000));
  if (minutes < 60) return minutes === 1 ? "* * * * *" : `*/${minutes} * * * *`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return hours === 1 ? "0 * * * *" : `0 */${hours} * * *`;
  const days = Math.min(31, Math.round(hours / 24));
  return days === 1 ? "0 0 * * *" : `0 0 */${days} * *`;
}
