-- 0007: partner_ltv_latest is rewritten whole on every recompute (service/ltv.c upserts one row per
-- position); with half of each page left free the new row versions fit on their own page and are
-- HOT updates (no new entries in the two indexes). For 10,000 positions the update of the latest
-- records took ~250 ms at fillfactor 100 and ~80 ms at 50. Pages written before this migration
-- keep their fill until rewritten (VACUUM FULL partner_ltv_latest).
ALTER TABLE partner_ltv_latest SET (fillfactor = 50);
