-- 0006: the LTV records' detail (inputs and per-line values, written by service/ltv.c for every
-- position on every recompute and only ever read back whole) is kept as json text instead of
-- jsonb: the recompute passes all rows as one json parameter, and json input only checks the
-- text where jsonb builds a tree; for 10,000 positions (~14 MB) this roughly halves the write.
ALTER TABLE partner_ltv_latest ALTER COLUMN detail TYPE json;
ALTER TABLE partner_ltv_history ALTER COLUMN detail TYPE json;
