-- 0026: portfolio margin held in memory, and results stored only when they change.
--
-- A serving process keeps the margin parameters and the stored legs of the portfolios it quotes in
-- memory (partner/margin.c) and forgets them on NOTIFY sparkd_margin, sent after any statement that
-- changes what a margin reads: portfolios, legs, latest results (the band a computation starts
-- from), parameters and oracle prices (imports also send sparkd_state). One notification per
-- statement with an empty payload: PostgreSQL folds the duplicates of a transaction into one.
CREATE FUNCTION sparkd_margin_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sparkd_margin', '');
  RETURN NULL;
END $$;
CREATE TRIGGER partner_portfolios_margin AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON partner_portfolios
  FOR EACH STATEMENT EXECUTE FUNCTION sparkd_margin_notify();
CREATE TRIGGER portfolio_legs_margin AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON portfolio_legs
  FOR EACH STATEMENT EXECUTE FUNCTION sparkd_margin_notify();
CREATE TRIGGER portfolio_margin_latest_margin AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON portfolio_margin_latest
  FOR EACH STATEMENT EXECUTE FUNCTION sparkd_margin_notify();
CREATE TRIGGER margin_params_margin AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON margin_params
  FOR EACH STATEMENT EXECUTE FUNCTION sparkd_margin_notify();
CREATE TRIGGER prices_margin AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON prices
  FOR EACH STATEMENT EXECUTE FUNCTION sparkd_margin_notify();

-- What the stored result was computed from and came to (partner/margin.c, margin_fingerprint): a
-- computation whose fingerprint equals the stored one is the stored record again, so it is served
-- as stored (same sequence, same as_of) instead of being stored anew. NULL: stored before this
-- column, so the next computation stores.
ALTER TABLE portfolio_margin_latest ADD COLUMN fingerprint bigint;

-- Results are documents of a few kB written by the thousand in a batch pass; lz4 compresses them
-- several times faster than the default pglz (new values only; nothing is rewritten).
ALTER TABLE portfolio_margin_history ALTER COLUMN result SET COMPRESSION lz4;
ALTER TABLE portfolio_margin_latest ALTER COLUMN result SET COMPRESSION lz4;
