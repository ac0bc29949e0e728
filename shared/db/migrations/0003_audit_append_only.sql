-- The audit trail is append-only (shared/audit/). Rows are never updated: personal details are sealed with the
-- subject's data key, and erasure destroys the key (crypto-shredding), so nothing here needs rewriting.
-- The only DELETE allowed is retention pruning of entries older than 365 days (AUDIT_RETENTION_DAYS in
-- shared/audit/retention.ts), and never the newest entry, which anchors the next one.
-- A superuser or the table owner can still disable these triggers; the hash chain and the signed checkpoints
-- are what make such tampering visible (npm run audit:verify).
CREATE FUNCTION audit_log_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  head_seq bigint;
  head_hash bytea;
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- Writers take a transaction-level advisory lock first; this makes any other INSERT (a bug, an injected
    -- statement) that does not extend the chain exactly at its head fail.
    SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
      IF NEW.seq <> 1 OR NEW.prev_hash <> decode(repeat('00', 32), 'hex') THEN
        RAISE EXCEPTION 'audit_log: the first entry must have seq 1 and the all-zero prev_hash'
          USING ERRCODE = 'restrict_violation';
      END IF;
    ELSIF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
      RAISE EXCEPTION 'audit_log: a new entry must extend the chain at its head (seq %, prev_hash of seq %)',
        head_seq + 1, head_seq
        USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE'
    AND OLD.occurred_at < now() - interval '365 days'
    AND OLD.seq < (SELECT max(a.seq) FROM audit_log a) THEN
    RETURN OLD; -- retention pruning (shared/audit/retention.ts)
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'restrict_violation',
      HINT = 'Audit entries are never changed or removed; erase personal details by destroying the subject''s data key.';
END
$$;
--> statement-breakpoint
CREATE FUNCTION audit_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END
$$;
--> statement-breakpoint
CREATE TRIGGER audit_log_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
--> statement-breakpoint
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_guard BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
