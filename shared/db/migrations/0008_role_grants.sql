CREATE TABLE "role_grants" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"target_user_id" uuid NOT NULL,
	"role" text DEFAULT 'admin' NOT NULL,
	"requested_by" uuid NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"decided_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"decided_at" timestamp with time zone,
	CONSTRAINT "role_grants_role_check" CHECK ("role_grants"."role" in ('admin')),
	CONSTRAINT "role_grants_status_check" CHECK ("role_grants"."status" in ('pending', 'approved', 'rejected', 'expired')),
	CONSTRAINT "role_grants_two_person_check" CHECK ("role_grants"."decided_by" is null or "role_grants"."decided_by" <> "role_grants"."requested_by" or "role_grants"."status" = 'rejected')
);
--> statement-breakpoint
ALTER TABLE "role_grants" ADD CONSTRAINT "role_grants_target_user_id_users_id_fk" FOREIGN KEY ("target_user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "role_grants_one_pending_idx" ON "role_grants" USING btree ("target_user_id") WHERE "role_grants"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "role_grants_status_idx" ON "role_grants" USING btree ("status","expires_at");