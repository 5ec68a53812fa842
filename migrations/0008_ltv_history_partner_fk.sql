-- 0008: partner_ltv_history loses its two foreign keys. Its rows are written only by the recompute
-- (service/ltv.c), from positions it has just read under the 'sparkd_ltv' lock, so neither key can
-- be wrong when written; partner_id is a copy of the position's partner, kept for the partner filter
-- in SQL. Positions are never deleted, and the history is the record of what sparkd said (signed
-- when served): it is not to vanish with a position anyway, so ON DELETE CASCADE goes too. The two
-- checks cost one trigger call each per history row: ~75 ms of a 10,000-position recompute
-- (bench/ltv.sh). partner_ltv_latest keeps its keys: they fire on a position's first record only (an
-- update that keeps the key does not re-check it).
ALTER TABLE partner_ltv_history DROP CONSTRAINT partner_ltv_history_partner_id_fkey;
ALTER TABLE partner_ltv_history DROP CONSTRAINT partner_ltv_history_position_id_fkey;
