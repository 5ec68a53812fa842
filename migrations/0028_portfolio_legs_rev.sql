-- 0028: a revision per portfolio's legs, so the batch margin pass can keep the legs in memory.
--
-- The worker's batch pass (partner/margin.c, partner_margin_recompute_all) keeps every portfolio's
-- legs between passes (legs change rarely, prices often) and rereads only the portfolios whose
-- legs_rev differs from the one it holds. NOTIFY sparkd_margin cannot say that: the pass's own
-- result writes send it too. legs_rev is moved by any statement on portfolio_legs (the API, another
-- sparkd, plain SQL), in the writing transaction, on the portfolio row the pass locks (FOR UPDATE)
-- before it reads the legs: a pass never pairs a revision with other legs than its own.
--
-- The values come from one sequence and are never reused (a rolled-back write burns its value).
-- It starts at a random point so that two databases served by one process (tests) hardly ever
-- share a (portfolio, revision) pair.
CREATE SEQUENCE portfolio_legs_rev;
SELECT setval('portfolio_legs_rev', 1 + floor(random() * 4611686018427387904)::bigint);
ALTER TABLE partner_portfolios ADD COLUMN legs_rev bigint NOT NULL DEFAULT nextval('portfolio_legs_rev');

CREATE FUNCTION portfolio_legs_rev_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE partner_portfolios SET legs_rev = nextval('portfolio_legs_rev')
  WHERE portfolio_id IN (SELECT portfolio_id FROM new_legs);
  RETURN NULL;
END $$;
CREATE FUNCTION portfolio_legs_rev_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE partner_portfolios SET legs_rev = nextval('portfolio_legs_rev')
  WHERE portfolio_id IN (SELECT portfolio_id FROM old_legs);
  RETURN NULL;
END $$;
CREATE FUNCTION portfolio_legs_rev_both() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE partner_portfolios SET legs_rev = nextval('portfolio_legs_rev')
  WHERE portfolio_id IN (SELECT portfolio_id FROM new_legs UNION SELECT portfolio_id FROM old_legs);
  RETURN NULL;
END $$;
CREATE FUNCTION portfolio_legs_rev_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE partner_portfolios SET legs_rev = nextval('portfolio_legs_rev');
  RETURN NULL;
END $$;
-- (a trigger with transition tables takes one event)
CREATE TRIGGER portfolio_legs_rev_ins AFTER INSERT ON portfolio_legs REFERENCING NEW TABLE AS new_legs
  FOR EACH STATEMENT EXECUTE FUNCTION portfolio_legs_rev_new();
CREATE TRIGGER portfolio_legs_rev_upd AFTER UPDATE ON portfolio_legs REFERENCING OLD TABLE AS old_legs
  NEW TABLE AS new_legs FOR EACH STATEMENT EXECUTE FUNCTION portfolio_legs_rev_both();
CREATE TRIGGER portfolio_legs_rev_del AFTER DELETE ON portfolio_legs REFERENCING OLD TABLE AS old_legs
  FOR EACH STATEMENT EXECUTE FUNCTION portfolio_legs_rev_old();
CREATE TRIGGER portfolio_legs_rev_trunc AFTER TRUNCATE ON portfolio_legs
  FOR EACH STATEMENT EXECUTE FUNCTION portfolio_legs_rev_all();
