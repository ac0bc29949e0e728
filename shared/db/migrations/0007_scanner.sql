CREATE TABLE "scan_findings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"fingerprint" text NOT NULL,
	"kind" text NOT NULL,
	"rule" text NOT NULL,
	"severity" text NOT NULL,
	"title" text NOT NULL,
	"detail" text NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"opened_scan_id" uuid NOT NULL,
	"last_scan_id" uuid NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "scan_findings_fingerprint_unique" UNIQUE("fingerprint"),
	CONSTRAINT "scan_findings_fingerprint_check" CHECK ("scan_findings"."fingerprint" ~ '^[0-9a-f]{64}$'),
	CONSTRAINT "scan_findings_kind_check" CHECK ("scan_findings"."kind" in ('dependency', 'config', 'http')),
	CONSTRAINT "scan_findings_severity_check" CHECK ("scan_findings"."severity" in ('critical', 'high', 'medium', 'low')),
	CONSTRAINT "scan_findings_title_check" CHECK (length("scan_findings"."title") between 1 and 200),
	CONSTRAINT "scan_findings_detail_check" CHECK (length("scan_findings"."detail") <= 1000)
);
--> statement-breakpoint
CREATE TABLE "scan_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"trigger" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"critical" integer DEFAULT 0 NOT NULL,
	"high" integer DEFAULT 0 NOT NULL,
	"medium" integer DEFAULT 0 NOT NULL,
	"low" integer DEFAULT 0 NOT NULL,
	"new_count" integer DEFAULT 0 NOT NULL,
	"resolved_count" integer DEFAULT 0 NOT NULL,
	"packages_checked" integer DEFAULT 0 NOT NULL,
	"advisories_loaded" integer DEFAULT 0 NOT NULL,
	"advisories_updated_at" timestamp with time zone,
	"error_code" text,
	CONSTRAINT "scan_runs_status_check" CHECK ("scan_runs"."status" in ('running', 'completed', 'failed')),
	CONSTRAINT "scan_runs_trigger_check" CHECK ("scan_runs"."trigger" in ('schedule', 'bot', 'api')),
	CONSTRAINT "scan_runs_error_code_check" CHECK ("scan_runs"."error_code" is null or "scan_runs"."error_code" ~ '^[A-Z][A-Z0-9_]{0,63}$')
);
--> statement-breakpoint
ALTER TABLE "scan_findings" ADD CONSTRAINT "scan_findings_opened_scan_id_scan_runs_id_fk" FOREIGN KEY ("opened_scan_id") REFERENCES "public"."scan_runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scan_findings" ADD CONSTRAINT "scan_findings_last_scan_id_scan_runs_id_fk" FOREIGN KEY ("last_scan_id") REFERENCES "public"."scan_runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "scan_findings_open_idx" ON "scan_findings" USING btree ("resolved_at","severity");--> statement-breakpoint
CREATE INDEX "scan_runs_started_idx" ON "scan_runs" USING btree ("started_at");