-- 0010: a latest record the recompute could not replace (a value of the new one does not fit 256
-- bits, e.g. a price far beyond any asset's) is flagged rather than served as if current: since
-- when (unix seconds, the first failed pass) and why. A record written by a later pass clears both.
ALTER TABLE partner_ltv_latest
  ADD COLUMN not_recomputable_since bigint,
  ADD COLUMN not_recomputable_reason text;
