-- 0030: a write to accounts or positions that did not come through the import (plain SQL, a
-- script, the indexer's rewind) is no longer missed by the state cache's incremental rebuild.
--
-- The import records the accounts it writes (migration 0015) and marks its transaction
-- (set_config('sparkd.import', 'on', true), db/snapshot_apply.c). Any other statement that writes
-- either table counts here as a full-mode import of every chain: seq and full_seq move on, so the
-- next generation reads every account (docs/accounts.md). Which accounts such a write touched is
-- not recorded: such writes are rare, and a full read is always right.
--
-- Per statement, not per row, and without transition tables: a first import's COPY of millions of
-- rows costs nothing more. The WHEN condition is evaluated without calling the function, so an
-- import's statements do not even load PL/pgSQL (0.7 ms of a block's import when they did). The
-- write does not NOTIFY: the cache sees it at its next rebuild.
CREATE FUNCTION sparkd_accounts_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE account_change_heads SET seq = seq + 1, full_seq = seq + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER accounts_written AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts FOR EACH STATEMENT
  WHEN (current_setting('sparkd.import', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sparkd_accounts_written();
CREATE TRIGGER positions_written AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON positions FOR EACH STATEMENT
  WHEN (current_setting('sparkd.import', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sparkd_accounts_written();
