CREATE TABLE "mfa_backup_codes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"code_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"used_at" timestamp with time zone,
	CONSTRAINT "mfa_backup_codes_hash_check" CHECK ("mfa_backup_codes"."code_hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "mfa_factors" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"secret" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"enabled_at" timestamp with time zone,
	"last_used_step" bigint,
	CONSTRAINT "mfa_factors_status_check" CHECK ("mfa_factors"."status" in ('pending', 'active'))
);
--> statement-breakpoint
CREATE TABLE "mfa_resets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"requested_by" uuid,
	"status" text DEFAULT 'pending' NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"effective_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	CONSTRAINT "mfa_resets_status_check" CHECK ("mfa_resets"."status" in ('pending', 'cancelled', 'completed')),
	CONSTRAINT "mfa_resets_effective_check" CHECK ("mfa_resets"."effective_at" > "mfa_resets"."requested_at")
);
--> statement-breakpoint
CREATE TABLE "oauth_links" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"provider" text NOT NULL,
	"subject_index" text NOT NULL,
	"display_name" "bytea",
	"email" "bytea",
	"email_verified" boolean DEFAULT false NOT NULL,
	"linked_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "oauth_links_provider_check" CHECK ("oauth_links"."provider" in ('google', 'github', 'discord')),
	CONSTRAINT "oauth_links_subject_index_check" CHECK ("oauth_links"."subject_index" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
ALTER TABLE "mfa_backup_codes" ADD CONSTRAINT "mfa_backup_codes_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mfa_factors" ADD CONSTRAINT "mfa_factors_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mfa_resets" ADD CONSTRAINT "mfa_resets_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mfa_resets" ADD CONSTRAINT "mfa_resets_requested_by_users_id_fk" FOREIGN KEY ("requested_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "oauth_links" ADD CONSTRAINT "oauth_links_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mfa_backup_codes_user_idx" ON "mfa_backup_codes" USING btree ("user_id","code_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "mfa_resets_one_pending" ON "mfa_resets" USING btree ("user_id") WHERE "mfa_resets"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "mfa_resets_due_idx" ON "mfa_resets" USING btree ("effective_at") WHERE "mfa_resets"."status" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "oauth_links_provider_subject_idx" ON "oauth_links" USING btree ("provider","subject_index");--> statement-breakpoint
CREATE UNIQUE INDEX "oauth_links_user_provider_idx" ON "oauth_links" USING btree ("user_id","provider");