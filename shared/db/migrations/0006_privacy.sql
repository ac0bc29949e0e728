CREATE TABLE "consent_records" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"purpose_id" text NOT NULL,
	"purpose_version" text NOT NULL,
	"granted" boolean NOT NULL,
	"method" text NOT NULL,
	"receipt_id" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "consent_records_method_check" CHECK ("consent_records"."method" in ('bot', 'api', 'webapp')),
	CONSTRAINT "consent_records_purpose_check" CHECK ("consent_records"."purpose_id" ~ '^[a-z][a-z0-9_]{0,31}$')
);
--> statement-breakpoint
CREATE TABLE "privacy_erasure_steps" (
	"request_id" uuid NOT NULL,
	"step" text NOT NULL,
	"rows" integer NOT NULL,
	"completed_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "privacy_erasure_steps_request_id_step_pk" PRIMARY KEY("request_id","step")
);
--> statement-breakpoint
CREATE TABLE "privacy_requests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"due_at" timestamp (3) with time zone NOT NULL,
	"extended_until" timestamp (3) with time zone,
	"extension_reason" text,
	"effective_at" timestamp (3) with time zone,
	"progress" integer,
	"completed_at" timestamp (3) with time zone,
	"failure_code" text,
	"download_token_hash" text,
	"download_expires_at" timestamp (3) with time zone,
	"status_message_id" integer,
	CONSTRAINT "privacy_requests_kind_check" CHECK ("privacy_requests"."kind" in ('access', 'erasure', 'rectification', 'restriction', 'objection')),
	CONSTRAINT "privacy_requests_status_check" CHECK ("privacy_requests"."status" in ('pending', 'scheduled', 'processing', 'completed', 'cancelled', 'failed')),
	CONSTRAINT "privacy_requests_progress_check" CHECK ("privacy_requests"."progress" is null or "privacy_requests"."progress" between 0 and 100),
	CONSTRAINT "privacy_requests_extension_check" CHECK (("privacy_requests"."extended_until" is null) = ("privacy_requests"."extension_reason" is null)),
	CONSTRAINT "privacy_requests_reason_check" CHECK ("privacy_requests"."extension_reason" is null or length("privacy_requests"."extension_reason") between 10 and 500)
);
--> statement-breakpoint
CREATE TABLE "privacy_settings" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"restricted_at" timestamp (3) with time zone,
	"objected_purposes" text[] DEFAULT '{}'::text[] NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "privacy_settings_objections_check" CHECK (cardinality("privacy_settings"."objected_purposes") <= 32)
);
--> statement-breakpoint
CREATE TABLE "usage_counters" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"day" date NOT NULL,
	"event" text NOT NULL,
	"count" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_counters_event_check" CHECK ("usage_counters"."event" ~ '^[a-z][a-z0-9_.]{0,63}$')
);
--> statement-breakpoint
CREATE TABLE "defense_decisions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"scenario" text NOT NULL,
	"scope" text NOT NULL,
	"kind" text NOT NULL,
	"target_hash" text NOT NULL,
	"match_hashes" text[] NOT NULL,
	"target_label" text NOT NULL,
	"subject_user_id" uuid,
	"reason" text NOT NULL,
	"automated" boolean NOT NULL,
	"offence_level" integer DEFAULT 0 NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"lifted_at" timestamp with time zone,
	"lifted_by" uuid,
	"review_requested_at" timestamp with time zone,
	CONSTRAINT "defense_decisions_kind_check" CHECK ("defense_decisions"."kind" in ('throttle', 'ban', 'factor_lockout')),
	CONSTRAINT "defense_decisions_scope_check" CHECK ("defense_decisions"."scope" in ('user', 'telegram_user', 'api_key', 'ip', 'chat')),
	CONSTRAINT "defense_decisions_hash_check" CHECK ("defense_decisions"."target_hash" ~ '^[0-9a-f]{32}$'),
	CONSTRAINT "defense_decisions_expiry_check" CHECK ("defense_decisions"."expires_at" > "defense_decisions"."created_at")
);
--> statement-breakpoint
ALTER TABLE "defense_decisions" ADD CONSTRAINT "defense_decisions_subject_user_id_users_id_fk" FOREIGN KEY ("subject_user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "defense_decisions" ADD CONSTRAINT "defense_decisions_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "defense_decisions" ADD CONSTRAINT "defense_decisions_lifted_by_users_id_fk" FOREIGN KEY ("lifted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "consent_records_user_idx" ON "consent_records" USING btree ("user_id","purpose_id","created_at");--> statement-breakpoint
CREATE INDEX "privacy_requests_user_idx" ON "privacy_requests" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "privacy_requests_open_idx" ON "privacy_requests" USING btree ("status","due_at");--> statement-breakpoint
CREATE INDEX "privacy_requests_token_idx" ON "privacy_requests" USING btree ("download_token_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_counters_user_day_event_idx" ON "usage_counters" USING btree ("user_id","day","event");--> statement-breakpoint
CREATE INDEX "usage_counters_created_idx" ON "usage_counters" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "defense_decisions_target_idx" ON "defense_decisions" USING btree ("target_hash","created_at");--> statement-breakpoint
CREATE INDEX "defense_decisions_expires_idx" ON "defense_decisions" USING btree ("expires_at");