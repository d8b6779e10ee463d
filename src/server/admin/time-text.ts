/** Times as the console writes them: in UTC (the pages say so), and ages in rough words. */

/** `2026-12-07 15:04:05`: a UTC time to the second. */
export function utc(time: Date): string {
  return time.toISOString().replace("T", " ").slice(0, 19);
}

/** "3 days", "5 hours", "12 minutes": how long ago, roughly. */
export function ageOf(from: Date, now: Date): string {
  const minutes = Math.max(0, Math.floor((now.getTime() - from.getTime()) / 60_000));
  if (minutes >= 2 * 24 * 60) return `${Math.floor(minutes / (24 * 60))} days`;
  if (minutes >= 120) return `${Math.floor(minutes / 60)} hours`;
  return `${minutes} minutes`;
}
