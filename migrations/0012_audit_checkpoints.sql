CREATE TABLE "audit_checkpoints" (
	"entry_id" bigint PRIMARY KEY NOT NULL,
	"entry_hash" text NOT NULL,
	"verified_at" timestamp with time zone NOT NULL
);
