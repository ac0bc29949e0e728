ALTER TABLE "users" ALTER COLUMN "telegram_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "telegram_id_hash" text;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "telegram_id_sealed" "bytea";--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_telegram_id_hash_unique" UNIQUE("telegram_id_hash");--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_telegram_id_hash_check" CHECK ("users"."telegram_id_hash" is null or "users"."telegram_id_hash" ~ '^[0-9a-f]{64}$');--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_telegram_id_present_check" CHECK ("users"."telegram_id_hash" is not null or "users"."telegram_id" is not null);