CREATE TABLE "crypto_keys" (
	"id" integer PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"wrapped_key" "bytea" NOT NULL,
	"master_fingerprint" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"promoted_at" timestamp with time zone,
	"retired_at" timestamp with time zone,
	CONSTRAINT "crypto_keys_status_check" CHECK ("crypto_keys"."status" in ('primary', 'active', 'retired'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "crypto_keys_one_primary" ON "crypto_keys" USING btree ("status") WHERE "crypto_keys"."status" = 'primary';