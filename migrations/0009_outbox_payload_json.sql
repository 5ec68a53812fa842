-- 0009: webhook_outbox.payload is written once per state change by the recompute (service/ltv.c,
-- up to one row per position per pass) and only ever read back whole as text for the delivery body,
-- like the records' detail in 0006: json keeps the text as written (compact) and skips building a
-- jsonb tree per row, ~3 us each.
ALTER TABLE webhook_outbox ALTER COLUMN payload TYPE json USING payload::json;
