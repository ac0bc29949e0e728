CREATE TABLE "user_keys" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"wrapped_key" "bytea",
	"ring_key_id" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"shredded_at" timestamp with time zone,
	CONSTRAINT "user_keys_shred_check" CHECK (("user_keys"."shredded_at" is null and "user_keys"."wrapped_key" is not null and "user_keys"."ring_key_id" is not null)
        or ("user_keys"."shredded_at" is not null and "user_keys"."wrapped_key" is null and "user_keys"."ring_key_id" is null))
);
