CREATE TABLE "activity_counts" (
	"hour" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "activity_counts_hour_kind_pk" PRIMARY KEY("hour","kind")
);
--> statement-breakpoint
-- The overview's last 14 days from what is already stored: sign-ups from the audit log (imports left out),
-- successful sign-ins from the sessions usersvc opened for itself. Refused sign-ins were not kept before.
INSERT INTO "activity_counts" ("hour", "kind", "count")
SELECT date_trunc('hour', "occurred_at"), 'sign_up', count(*) FROM "audit_log"
WHERE "event" = 'user.registered' AND "occurred_at" > now() - interval '15 days' AND coalesce("data"->>'imported', '') <> 'true'
GROUP BY 1;--> statement-breakpoint
INSERT INTO "activity_counts" ("hour", "kind", "count")
SELECT date_trunc('hour', "created_at"), 'sign_in.succeeded', count(*) FROM "sessions"
WHERE "client_id" IS NULL AND "created_at" > now() - interval '15 days'
GROUP BY 1;
