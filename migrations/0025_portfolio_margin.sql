-- 0025: Spark Prime portfolios and their margin (risk-engine §2.6, §5.3; risk/margin.h).
--
-- Who writes what:
--   margin_params                         PUT /v1/admin/margin-params (handlers/partner_portfolios.c):
--                                         a new version per change, never updated in place
--   partner_portfolios, portfolio_legs    the partner routes, each write in one transaction with its
--                                         Idempotency-Key row and its audit row (handler_partner_write)
--   portfolio_margin_latest,
--   portfolio_margin_history,
--   webhook_outbox                        partner/margin.c, in one transaction per computation of a
--                                         portfolio's margin
-- Every row carries partner_id so the partner filter stays in SQL without a join.

-- Margin parameters: underlyings (scenario range, basis, liquidity, price source), venues (charge,
-- staleness bound), correlations, blend, hedge floor, IM multiplier, bands and the §5.3 rate terms,
-- as the JSON the admin route accepted (validated there). The newest version is in force; every
-- result names the version it used.
CREATE TABLE margin_params (
  version    bigserial PRIMARY KEY,
  params     jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A borrower's portfolio (one partner's; invisible to the others).
CREATE TABLE partner_portfolios (
  portfolio_id bigserial PRIMARY KEY,
  partner_id   bigint NOT NULL REFERENCES partners (partner_id),
  external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
  borrower     text NOT NULL CHECK (length(borrower) BETWEEN 1 AND 256),
  utilization_bps integer NOT NULL DEFAULT 0 CHECK (utilization_bps BETWEEN 0 AND 10000),
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (partner_id, external_id)
);
CREATE UNIQUE INDEX partner_portfolios_partner_id ON partner_portfolios (partner_id, portfolio_id);

-- The legs of a portfolio, one attested set per venue: an attestation replaces that venue's legs.
-- Quantities are whole units with 8 decimals (signed for perps), prices and funding USD with 8
-- decimals. A sparklend leg names an account (chain_id, address) whose collateral and debt are read
-- from the served chain state when the margin is computed.
CREATE TABLE portfolio_legs (
  portfolio_id bigint NOT NULL REFERENCES partner_portfolios (portfolio_id) ON DELETE CASCADE,
  partner_id   bigint NOT NULL REFERENCES partners (partner_id),
  venue        text NOT NULL,
  leg_no       integer NOT NULL CHECK (leg_no >= 0),
  kind         text NOT NULL CHECK (kind IN ('custody', 'spot', 'perp', 'sparklend', 'defi', 'debt')),
  underlying   text,
  quantity     bigint NOT NULL DEFAULT 0,
  entry_price  bigint NOT NULL DEFAULT 0,
  mark_price   bigint NOT NULL DEFAULT 0,
  funding      bigint NOT NULL DEFAULT 0,
  chain_id     bigint,
  address      evm_address,
  yield_kind   text NOT NULL DEFAULT 'none' CHECK (yield_kind IN ('none', 'basis', 'staking', 'fixed')),
  yield_bps    integer NOT NULL DEFAULT 0,
  yield_sd_bps integer NOT NULL DEFAULT 0,
  as_of        bigint NOT NULL, -- unix seconds of the venue's attestation
  reference    text NOT NULL,
  PRIMARY KEY (portfolio_id, venue, leg_no),
  CHECK ((kind = 'sparklend') = (address IS NOT NULL AND chain_id IS NOT NULL)),
  CHECK (kind = 'sparklend' OR underlying IS NOT NULL)
);

-- The latest margin result of each portfolio; sequence grows by one per computation.
CREATE TABLE portfolio_margin_latest (
  portfolio_id   bigint PRIMARY KEY REFERENCES partner_portfolios (portfolio_id) ON DELETE CASCADE,
  partner_id     bigint NOT NULL REFERENCES partners (partner_id),
  sequence       bigint NOT NULL CHECK (sequence > 0),
  params_version bigint NOT NULL REFERENCES margin_params (version),
  band           smallint NOT NULL CHECK (band BETWEEN 0 AND 4), -- risk_margin_band
  hs_bps         bigint NOT NULL,
  call_since     bigint NOT NULL DEFAULT 0,
  rate_bps       integer,
  rate_at        bigint,
  as_of          bigint NOT NULL,
  result         jsonb NOT NULL
);

-- Results appended when the band changes.
CREATE TABLE portfolio_margin_history (
  portfolio_id   bigint NOT NULL REFERENCES partner_portfolios (portfolio_id) ON DELETE CASCADE,
  sequence       bigint NOT NULL,
  partner_id     bigint NOT NULL REFERENCES partners (partner_id),
  params_version bigint NOT NULL,
  band           smallint NOT NULL,
  prev_band      smallint,
  hs_bps         bigint NOT NULL,
  as_of          bigint NOT NULL,
  result         jsonb NOT NULL,
  PRIMARY KEY (portfolio_id, sequence)
);
CREATE INDEX portfolio_margin_history_partner ON portfolio_margin_history (partner_id, portfolio_id, sequence);

-- The default parameters (version 1): BTC and ETH priced by SparkLend's oracle on chain 1, the
-- venue kinds of §2.6 step 8, bands of step 9, rate terms of §5.3.
INSERT INTO margin_params (params) VALUES ('{
  "underlyings": [
    {"symbol": "BTC", "chain_id": 1, "asset": "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599", "range_bps": 1500,
     "basis_bps": 100, "spread_bps": 10, "sigma_bps": 300, "adv_usd": "5000000000", "horizon_days": 1},
    {"symbol": "ETH", "chain_id": 1, "asset": "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", "range_bps": 2100,
     "basis_bps": 100, "spread_bps": 10, "sigma_bps": 400, "adv_usd": "5000000000", "horizon_days": 1}
  ],
  "cash_assets": [
    {"chain_id": 1, "asset": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"},
    {"chain_id": 1, "asset": "0x6b175474e89094c44da98b954eedeac495271d0f"}
  ],
  "venues": [
    {"name": "custodian", "charge_bps": 50, "max_staleness_seconds": 3600},
    {"name": "exchange", "charge_bps": 400, "max_staleness_seconds": 300},
    {"name": "sparklend", "charge_bps": 150, "max_staleness_seconds": 3600},
    {"name": "defi", "charge_bps": 1000, "max_staleness_seconds": 3600},
    {"name": "spark-prime", "charge_bps": 0, "max_staleness_seconds": 86400}
  ],
  "correlations": [[10000, 8000], [8000, 10000]],
  "tail_weight_bps": 3500, "gamma_bps": 10000, "lambda_bps": 2500,
  "hedge_floor_net_bps": 200, "hedge_floor_hedged_bps": 100,
  "impact_y_bps": 5000, "participation_bps": 1000, "im_multiplier_bps": 15000,
  "bands": {"initial_bps": 15000, "warning_bps": 15000, "margin_call_bps": 12500, "liquidation_bps": 10500,
            "return_to_bps": 13500, "cure_period_seconds": 86400},
  "max_price_staleness_seconds": 3600,
  "rate": {"target_spread_bps": 100, "lender_ref_bps": 450, "lender_min_bps": 50, "clamp_lo_bps": 300,
           "clamp_hi_bps": 2500, "funding_z_bps": 10000, "util_k_bps": 200, "util_kink_bps": 8000,
           "util_max_bps": 9500, "util_slope2_bps": 5000, "risk_hs_bps": [15000, 12500],
           "risk_premium_bps": [50, 100], "max_daily_change_bps": 25}
}');
