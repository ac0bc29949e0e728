CREATE TABLE "audit_checkpoints" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"head_hash" "bytea" NOT NULL,
	"key_id" text NOT NULL,
	"signature" "bytea" NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "audit_checkpoints_seq_check" CHECK ("audit_checkpoints"."seq" > 0),
	CONSTRAINT "audit_checkpoints_lengths_check" CHECK (octet_length("audit_checkpoints"."head_hash") = 32 and octet_length("audit_checkpoints"."signature") = 64)
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"id" uuid NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"actor_type" text NOT NULL,
	"actor_id" text,
	"action" text NOT NULL,
	"target_type" text,
	"target_id" text,
	"subject_user_id" uuid,
	"result" text NOT NULL,
	"reason_code" text,
	"request_id" text,
	"source" text NOT NULL,
	"ip_prefix" text,
	"details" "bytea",
	"prev_hash" "bytea" NOT NULL,
	"hash" "bytea" NOT NULL,
	CONSTRAINT "audit_log_id_unique" UNIQUE("id"),
	CONSTRAINT "audit_log_seq_check" CHECK ("audit_log"."seq" > 0),
	CONSTRAINT "audit_log_actor_type_check" CHECK ("audit_log"."actor_type" in ('user', 'api_key', 'system', 'anonymous')),
	CONSTRAINT "audit_log_result_check" CHECK ("audit_log"."result" in ('success', 'failure', 'denied', 'error')),
	CONSTRAINT "audit_log_source_check" CHECK ("audit_log"."source" in ('bot', 'api', 'worker', 'cli')),
	CONSTRAINT "audit_log_ip_prefix_check" CHECK ("audit_log"."ip_prefix" is null or "audit_log"."ip_prefix" ~ '^([0-9]{1,3}\.){3}0/24$' or "audit_log"."ip_prefix" ~ '^[0-9a-f:]{2,39}/48$'),
	CONSTRAINT "audit_log_details_size_check" CHECK ("audit_log"."details" is null or octet_length("audit_log"."details") <= 8192),
	CONSTRAINT "audit_log_hash_length_check" CHECK (octet_length("audit_log"."hash") = 32 and octet_length("audit_log"."prev_hash") = 32)
);
--> statement-breakpoint
CREATE INDEX "audit_log_subject_idx" ON "audit_log" USING btree ("subject_user_id","seq");