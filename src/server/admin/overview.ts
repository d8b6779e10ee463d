/** /admin: the overview (charts of sign-ups and sign-ins, sessions, users, outbox, audit chain, key ages). */
import { OVERVIEW_DAYS, type OverviewFigures, overviewFigures } from "../../core/stats/overview.ts";
import { SIGN_IN_OUTCOMES } from "../../core/stats/activity-counts.ts";
import { listSigningKeys } from "../../core/tokens/signing-keys.ts";
import { type AdminCall, type AdminRouter, renderAdmin } from "./admin-router.ts";
import { type ChartSeries, stackedBars } from "./charts.ts";
import { ageOf, utc } from "./time-text.ts";

const SIGN_IN_SERIES: ChartSeries[] = [
  { id: "succeeded", label: "Succeeded" },
  { id: "failed", label: "Failed: wrong or unknown credentials" },
  { id: "blocked", label: "Refused: account blocked" },
  { id: "unverified", label: "Refused: email not verified" },
] satisfies { id: (typeof SIGN_IN_OUTCOMES)[number]; label: string }[];

/** A bar's tooltip: "3 succeeded, 1 blocked". */
const OUTCOME_WORDS: Record<(typeof SIGN_IN_OUTCOMES)[number], string> = { succeeded: "succeeded", failed: "failed", blocked: "blocked", unverified: "email not verified" };

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** `2026-12-07T15` → `2026-12-07 15:00`. */
const hourText = (hour: string) => `${hour.replace("T", " ")}:00`;

function signUpsChart(figures: OverviewFigures) {
  const days = figures.signUpsPerDay;
  const total = days.reduce((sum, d) => sum + d.count, 0);
  const busiest = days.reduce((best, d) => (d.count > best.count ? d : best), days[0]!);
  const summary = total === 0
    ? `Sign-ups per day over the last ${OVERVIEW_DAYS} days (UTC): none.`
    : `Sign-ups per day over the last ${OVERVIEW_DAYS} days (UTC): ${total} in all, most on ${busiest.day} (${busiest.count}).`;
  const chart = stackedBars({
    buckets: days.map((d) => ({ title: `${d.day}: ${plural(d.count, "sign-up")}`, axisLabel: d.day.slice(5), data: { day: d.day, count: d.count }, values: { signups: d.count } })),
    series: [{ id: "signups", label: "Sign-ups" }],
    barWidth: 40,
    gap: 16,
    small: true,
  });
  return { chart, summary, total, rows: days };
}

function signInsChart(figures: OverviewFigures) {
  const hours = figures.signInsPerHour;
  const totals = Object.fromEntries(SIGN_IN_OUTCOMES.map((o) => [o, hours.reduce((sum, h) => sum + h[o], 0)])) as Record<(typeof SIGN_IN_OUTCOMES)[number], number>;
  const all = SIGN_IN_OUTCOMES.reduce((sum, o) => sum + totals[o], 0);
  const totalOf = (h: (typeof hours)[number]) => SIGN_IN_OUTCOMES.reduce((sum, o) => sum + h[o], 0);
  const busiest = hours.reduce((best, h) => (totalOf(h) > totalOf(best) ? h : best), hours[0]!);
  const counts = `${totals.succeeded} succeeded, ${totals.failed} failed, ${totals.blocked} refused for a blocked account, ${totals.unverified} refused for an unverified email`;
  const summary = all === 0
    ? `Sign-ins per hour over the last ${OVERVIEW_DAYS} days (UTC): none.`
    : `Sign-ins per hour over the last ${OVERVIEW_DAYS} days (UTC): ${counts}; the busiest hour was ${hourText(busiest.hour)} with ${totalOf(busiest)}.`;
  const chart = stackedBars({
    buckets: hours.map((h) => {
      const values: Record<string, number> = { succeeded: h.succeeded, failed: h.failed, blocked: h.blocked, unverified: h.unverified };
      const parts = SIGN_IN_OUTCOMES.filter((o) => values[o]).map((o) => `${values[o]} ${OUTCOME_WORDS[o]}`);
      return { title: `${hourText(h.hour)} UTC: ${parts.join(", ")}`, axisLabel: h.hour.endsWith("T00") ? h.hour.slice(5, 10) : null, data: { hour: h.hour, ...values }, values };
    }),
    series: SIGN_IN_SERIES,
    barWidth: 2,
    gap: 1,
  });
  // The table lists only the hours with a sign-in: 336 rows of zeros would hide them.
  const rows = hours.filter((h) => totalOf(h) > 0).map((h) => ({ ...h, when: hourText(h.hour), total: totalOf(h) }));
  return { chart, summary, totals, series: SIGN_IN_SERIES, rows };
}

async function showOverview(admin: AdminCall): Promise<Response> {
  const { call } = admin;
  const core = call.pages.core;
  const figures = await overviewFigures(core);
  const { now } = figures;
  const keys = core.tokens.asymmetric
    ? (await listSigningKeys(core.db)).filter((key) => !key.retiredAt).map((key) => ({ kid: key.kid, alg: key.alg, age: ageOf(key.createdAt, now), created: utc(key.createdAt), createdIso: key.createdAt.toISOString() }))
    : null;
  const signUps = signUpsChart(figures);
  const signIns = signInsChart(figures);
  const cards = [
    { id: "sign-ups", label: `Sign-ups, last ${OVERVIEW_DAYS} days`, value: signUps.total, href: null },
    { id: "sign-ins", label: `Successful sign-ins, last ${OVERVIEW_DAYS} days`, value: signIns.totals.succeeded, href: null },
    { id: "active-sessions", label: "Active sessions", value: figures.sessions.active, href: null },
    { id: "oidc-grants", label: "Active OpenID Connect grants", value: figures.sessions.oidcGrants, href: null },
    { id: "blocked-users", label: "Blocked users", value: figures.users.blocked, href: `${call.url("/admin/users")}?status=blocked` },
    { id: "deleted-users", label: "Deleted users (not yet purged)", value: figures.users.deleted, href: `${call.url("/admin/users")}?status=deleted` },
    { id: "outbox-pending", label: "Outbox: pending", value: figures.outbox.pending, href: `${call.url("/admin/outbox")}?status=pending` },
    { id: "outbox-dead", label: "Outbox: dead letters", value: figures.outbox.dead, href: `${call.url("/admin/outbox")}?status=dead` },
  ];
  const audit = figures.audit ? { newestId: figures.audit.newestId, newestAt: utc(figures.audit.newestAt), newestIso: figures.audit.newestAt.toISOString() } : null;
  return renderAdmin(admin, "admin-overview", "overview", {
    generatedAt: utc(now),
    days: OVERVIEW_DAYS,
    cards,
    signUps,
    signIns,
    audit,
    keys,
  });
}

export function overviewRoutes(router: AdminRouter): void {
  router.page("/admin", showOverview);
}
