-- 0008: partner_ltv_history.partner_id is a copy of its position's partner (for the partner filter in
-- SQL); the position's own foreign key already ties the row to a position and so to a partner. The
-- second foreign key cost one trigger call per history row: ~35 ms of a 10,000-position recompute
-- (bench/ltv.sh). partner_ltv_latest keeps its: it fires on the first record only (an update that
-- keeps the key does not re-check it).
ALTER TABLE partner_ltv_history DROP CONSTRAINT partner_ltv_history_partner_id_fkey;
