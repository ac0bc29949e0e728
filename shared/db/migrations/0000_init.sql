CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"telegram_id" bigint NOT NULL,
	"role" text DEFAULT 'user' NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"language_code" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_telegram_id_unique" UNIQUE("telegram_id"),
	CONSTRAINT "users_role_check" CHECK ("users"."role" in ('admin', 'user', 'readonly')),
	CONSTRAINT "users_status_check" CHECK ("users"."status" in ('active', 'blocked', 'deleted')),
	CONSTRAINT "users_language_code_check" CHECK ("users"."language_code" is null or length("users"."language_code") <= 35)
);
--> statement-breakpoint
CREATE INDEX "users_role_idx" ON "users" USING btree ("role");