/** Plain-text renderings of data for humans; `--json` prints the objects instead. */
import type { PublicUser } from "../core/users/user-record.ts";

export function userSummary(user: PublicUser): string {
  const until = user.blocked_until ? ` until ${user.blocked_until}` : "";
  const reason = user.blocked_reason ? ` (${user.blocked_reason})` : "";
  return `${user.username} <${user.email}> ${user.id} ${user.status}${user.status === "blocked" ? until + reason : ""}`;
}

export function userDetails(user: PublicUser): string[] {
  return [
    ["id", user.id],
    ["email", user.email],
    ["username", user.username],
    ["status", user.status],
    ["roles", user.roles.join(", ")],
    ["verified", String(user.is_verified)],
    ["blocked reason", user.blocked_reason ?? "-"],
    ["blocked until", user.blocked_until ?? "-"],
    ["balance", String(user.balance)],
    ["metadata", JSON.stringify(user.metadata)],
    ["created", user.created_at],
    ["updated", user.updated_at],
    ["last login", user.last_login_at ?? "-"],
    ["deleted", user.deleted_at ?? "-"],
  ].map(([key, value]) => `${`${key}:`.padEnd(16)}${value}`);
}

/** Left-aligned columns, header first. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

const DURATION_UNITS: [name: string, seconds: number][] = [
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
];

/** Seconds for people: 2592000 → "30 days", 5400 → "1 hour 30 minutes" (the two largest units). */
export function humanDuration(seconds: number): string {
  let left = Math.round(seconds);
  const parts: string[] = [];
  for (const [name, size] of DURATION_UNITS) {
    const count = Math.floor(left / size);
    left -= count * size;
    if (count > 0) parts.push(`${count} ${name}${count === 1 ? "" : "s"}`);
  }
  return parts.length === 0 ? "0 seconds" : parts.slice(0, 2).join(" ");
}
