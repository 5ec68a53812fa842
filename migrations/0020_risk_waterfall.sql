-- 0020: the loss waterfall stress scenarios run their bad debt through (spec risk-engine §4.3),
-- as configuration rather than code since the published order differs between sources. One row
-- per holder; a layer is the rows sharing layer_position, its capacity the sum of its holders'.
-- Capacities are 8-decimal USD (the oracle's base currency). The residual layer (at most one,
-- the last) is what reaches USDS holders as a haircut. Changed only by PUT
-- /v1/admin/risk/waterfall, which records itself in audit_log.
CREATE TABLE risk_waterfall (
  layer_position  integer NOT NULL CHECK (layer_position BETWEEN 1 AND 16),
  layer_name      text NOT NULL CHECK (length(layer_name) BETWEEN 1 AND 80),
  residual        boolean NOT NULL DEFAULT false,
  holder_position integer NOT NULL CHECK (holder_position BETWEEN 1 AND 16),
  holder_name     text NOT NULL CHECK (length(holder_name) BETWEEN 1 AND 80),
  capacity_base   uint256 NOT NULL CHECK (capacity_base >= 0),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (layer_position, holder_position)
);

-- Spark's published order (Spark security framework, May 2026): Prime risk capital first loss,
-- Sky surplus buffer, Genesis Capital backstop, SKY minting, then USDS holders pro rata. The
-- capacities are illustrative placeholders (first-loss capital "> $35M" per the April 2026
-- article; the others are not published): set the real ones with the admin route.
INSERT INTO risk_waterfall (layer_position, layer_name, residual, holder_position, holder_name, capacity_base) VALUES
  (1, 'Prime risk capital', false, 1, 'Spark first-loss capital', 3500000000000000),
  (2, 'Sky surplus buffer', false, 1, 'Sky surplus buffer', 5000000000000000),
  (3, 'Genesis Capital backstop', false, 1, 'Genesis Capital', 2000000000000000),
  (4, 'SKY minting', false, 1, 'SKY minting', 10000000000000000),
  (5, 'USDS holders', true, 1, 'USDS holders', 800000000000000000);
