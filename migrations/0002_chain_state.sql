-- 0002: chain state as imported from `sparkd.snapshot/1` snapshots (docs/snapshot.md).
--
-- Current state tables hold the latest imported block of each chain; the *_series tables are
-- append-only and keyed by (chain, address, block). On-chain integers are numeric(78,0) (never
-- floats), range-checked through the domains below. Addresses are stored lowercase ("0x" + 40 hex);
-- EIP-55 is applied on output. Rows are written only by the importer (db/snapshot_apply.c), which
-- keeps positions in step with accounts; positions carry no foreign key so that bulk loads stay fast.

CREATE DOMAIN uint256 AS numeric(78,0)
  CHECK (VALUE >= 0 AND VALUE < 115792089237316195423570985008687907853269984665640564039457584007913129639936);
CREATE DOMAIN uint128 AS numeric(39,0)
  CHECK (VALUE >= 0 AND VALUE < 340282366920938463463374607431768211456);
CREATE DOMAIN int256 AS numeric(78,0)
  CHECK (VALUE >= -57896044618658097711785492504343953926634992332820282019728792003956564819968
     AND VALUE < 57896044618658097711785492504343953926634992332820282019728792003956564819968);
CREATE DOMAIN evm_address AS text CHECK (VALUE ~ '^0x[0-9a-f]{40}$');
CREATE DOMAIN evm_bytes32 AS text CHECK (VALUE ~ '^0x[0-9a-f]{64}$');
CREATE DOMAIN bps AS integer CHECK (VALUE >= 0 AND VALUE <= 65535);

-- One row per chain: the last imported block.
CREATE TABLE chains (
  chain_id        bigint PRIMARY KEY CHECK (chain_id > 0),
  block_number    bigint NOT NULL CHECK (block_number >= 0),
  block_hash      evm_bytes32 NOT NULL,
  block_timestamp bigint NOT NULL CHECK (block_timestamp >= 0),
  imported_at     timestamptz NOT NULL DEFAULT now()
);

-- Every block imported per chain (a re-import of the same block is recognised here).
CREATE TABLE chain_blocks (
  chain_id        bigint NOT NULL REFERENCES chains (chain_id),
  block_number    bigint NOT NULL CHECK (block_number >= 0),
  block_hash      evm_bytes32 NOT NULL,
  block_timestamp bigint NOT NULL CHECK (block_timestamp >= 0),
  imported_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, block_number)
);

CREATE TABLE assets (
  chain_id bigint NOT NULL REFERENCES chains (chain_id),
  address  evm_address NOT NULL,
  symbol   text NOT NULL,
  name     text,
  decimals integer NOT NULL CHECK (decimals >= 0 AND decimals <= 36),
  PRIMARY KEY (chain_id, address)
);

-- SparkLend reserves: the raw configuration bitmap and its decoded fields (spec protocol-math §2.2),
-- ReserveData, the token totals and the interest-rate strategy.
CREATE TABLE reserves (
  chain_id                          bigint NOT NULL,
  asset                             evm_address NOT NULL,
  reserve_id                        integer NOT NULL CHECK (reserve_id >= 0 AND reserve_id < 65536),
  block_number                      bigint NOT NULL,
  configuration                     uint256 NOT NULL,
  ltv                               bps NOT NULL,
  liquidation_threshold             bps NOT NULL,
  liquidation_bonus                 bps NOT NULL,
  decimals                          integer NOT NULL CHECK (decimals >= 0 AND decimals <= 36),
  active                            boolean NOT NULL,
  frozen                            boolean NOT NULL,
  borrowing_enabled                 boolean NOT NULL,
  stable_borrowing_enabled          boolean NOT NULL,
  paused                            boolean NOT NULL,
  borrowable_in_isolation           boolean NOT NULL,
  siloed_borrowing                  boolean NOT NULL,
  flashloan_enabled                 boolean NOT NULL,
  reserve_factor                    bps NOT NULL CHECK (reserve_factor <= 10000),
  borrow_cap                        bigint NOT NULL CHECK (borrow_cap >= 0),
  supply_cap                        bigint NOT NULL CHECK (supply_cap >= 0),
  liquidation_protocol_fee          bps NOT NULL CHECK (liquidation_protocol_fee <= 10000),
  emode_category                    integer NOT NULL CHECK (emode_category >= 0 AND emode_category <= 255),
  unbacked_mint_cap                 bigint NOT NULL CHECK (unbacked_mint_cap >= 0),
  debt_ceiling                      bigint NOT NULL CHECK (debt_ceiling >= 0),
  liquidity_index                   uint128 NOT NULL,
  variable_borrow_index             uint128 NOT NULL,
  current_liquidity_rate            uint128 NOT NULL,
  current_variable_borrow_rate      uint128 NOT NULL,
  last_update_timestamp             bigint NOT NULL CHECK (last_update_timestamp >= 0 AND last_update_timestamp < 1099511627776),
  a_token                           evm_address NOT NULL,
  variable_debt_token               evm_address NOT NULL,
  a_token_scaled_total_supply       uint256 NOT NULL,
  variable_debt_scaled_total_supply uint256 NOT NULL,
  accrued_to_treasury               uint128 NOT NULL,
  isolation_mode_total_debt         uint128 NOT NULL,
  available_liquidity               uint256 NOT NULL,
  irm_address                       evm_address NOT NULL,
  irm_kind                          text NOT NULL
    CHECK (irm_kind IN ('default', 'variable_borrow', 'rate_target_base', 'rate_target_kink')),
  irm_optimal_usage_ratio           uint256 NOT NULL,
  irm_base_variable_borrow_rate     uint256 NOT NULL,
  irm_variable_rate_slope1          uint256 NOT NULL,
  irm_variable_rate_slope2          uint256 NOT NULL,
  irm_spread                        int256,
  irm_rate_source                   jsonb, -- {kind, address, apr, decimals[, lower_bound, upper_bound, default_rate]}
  PRIMARY KEY (chain_id, asset),
  UNIQUE (chain_id, reserve_id),
  FOREIGN KEY (chain_id, asset) REFERENCES assets (chain_id, address)
);

CREATE TABLE emode_categories (
  chain_id              bigint NOT NULL REFERENCES chains (chain_id),
  category_id           integer NOT NULL CHECK (category_id > 0 AND category_id <= 255),
  ltv                   bps NOT NULL,
  liquidation_threshold bps NOT NULL,
  liquidation_bonus     bps NOT NULL,
  price_source          evm_address NOT NULL,
  label                 text NOT NULL,
  PRIMARY KEY (chain_id, category_id)
);

-- AaveOracle prices: USD with 8 decimals.
CREATE TABLE prices (
  chain_id     bigint NOT NULL,
  asset        evm_address NOT NULL,
  price        uint256 NOT NULL,
  source       evm_address NOT NULL,
  updated_at   bigint NOT NULL CHECK (updated_at >= 0),
  block_number bigint NOT NULL,
  PRIMARY KEY (chain_id, asset),
  FOREIGN KEY (chain_id, asset) REFERENCES assets (chain_id, address)
);

-- Accounts with the health factor the engine computed at import (WAD; 2^256-1 with no debt;
-- NULL when it could not be computed, e.g. a price was missing).
CREATE TABLE accounts (
  chain_id              bigint NOT NULL,
  address               evm_address NOT NULL,
  emode_category        integer NOT NULL CHECK (emode_category >= 0 AND emode_category <= 255),
  block_number          bigint NOT NULL,
  health_factor         uint256,
  total_collateral_base uint256,
  total_debt_base       uint256,
  PRIMARY KEY (chain_id, address)
);
CREATE INDEX accounts_health_factor ON accounts (chain_id, health_factor);

CREATE TABLE positions (
  chain_id               bigint NOT NULL,
  account                evm_address NOT NULL,
  asset                  evm_address NOT NULL,
  scaled_a_token_balance uint256 NOT NULL,
  scaled_variable_debt   uint256 NOT NULL,
  collateral             boolean NOT NULL,
  PRIMARY KEY (chain_id, account, asset)
);
CREATE INDEX positions_by_reserve ON positions (chain_id, asset);

CREATE TABLE savings_vaults (
  chain_id                     bigint NOT NULL,
  address                      evm_address NOT NULL,
  kind                         text NOT NULL CHECK (kind IN ('sdai', 'susds', 'spark_vault_v2')),
  asset                        evm_address NOT NULL,
  symbol                       text NOT NULL,
  decimals                     integer NOT NULL CHECK (decimals >= 0 AND decimals <= 36),
  chi                          uint256 NOT NULL,
  rho                          bigint NOT NULL CHECK (rho >= 0),
  rate                         uint256 NOT NULL,
  min_rate                     uint256,
  max_rate                     uint256,
  deposit_cap                  uint256,
  total_supply                 uint256 NOT NULL,
  idle_assets                  uint256,
  intents_address              evm_address,
  intents_min_assets           uint256,
  intents_max_assets           uint256,
  intents_max_deadline_seconds bigint,
  block_number                 bigint NOT NULL,
  PRIMARY KEY (chain_id, address),
  FOREIGN KEY (chain_id, asset) REFERENCES assets (chain_id, address)
);

-- Spark Liquidity Layer.
CREATE TABLE liquidity_layer (
  chain_id     bigint PRIMARY KEY REFERENCES chains (chain_id),
  alm_proxy    evm_address NOT NULL,
  block_number bigint NOT NULL
);

CREATE TABLE ll_venues (
  chain_id bigint NOT NULL,
  venue_id text NOT NULL,
  kind     text NOT NULL,
  address  evm_address NOT NULL,
  asset    evm_address NOT NULL,
  label    text NOT NULL,
  PRIMARY KEY (chain_id, venue_id),
  FOREIGN KEY (chain_id, asset) REFERENCES assets (chain_id, address)
);

CREATE TABLE ll_allocations (
  chain_id bigint NOT NULL,
  venue_id text NOT NULL,
  asset    evm_address NOT NULL,
  amount   uint256 NOT NULL,
  apr      uint256 NOT NULL,
  PRIMARY KEY (chain_id, venue_id, asset),
  FOREIGN KEY (chain_id, venue_id) REFERENCES ll_venues (chain_id, venue_id) ON DELETE CASCADE,
  FOREIGN KEY (chain_id, asset) REFERENCES assets (chain_id, address)
);

CREATE TABLE ll_idle (
  chain_id bigint NOT NULL,
  asset    evm_address NOT NULL,
  amount   uint256 NOT NULL,
  PRIMARY KEY (chain_id, asset),
  FOREIGN KEY (chain_id, asset) REFERENCES assets (chain_id, address)
);

-- RateLimits storage per key (spec protocol-math §3.1).
CREATE TABLE ll_rate_limits (
  chain_id     bigint NOT NULL REFERENCES chains (chain_id),
  key          evm_bytes32 NOT NULL,
  name         text NOT NULL,
  asset        evm_address,
  target       evm_address,
  max_amount   uint256 NOT NULL,
  slope        uint256 NOT NULL,
  last_amount  uint256 NOT NULL,
  last_updated bigint NOT NULL CHECK (last_updated >= 0),
  PRIMARY KEY (chain_id, key)
);

CREATE TABLE kill_switch (
  chain_id     bigint PRIMARY KEY REFERENCES chains (chain_id),
  address      evm_address NOT NULL,
  triggered    boolean NOT NULL,
  block_number bigint NOT NULL
);

CREATE TABLE kill_switch_oracles (
  chain_id      bigint NOT NULL REFERENCES chains (chain_id),
  address       evm_address NOT NULL,
  label         text NOT NULL,
  threshold     int256 NOT NULL,
  latest_answer int256 NOT NULL,
  decimals      integer NOT NULL CHECK (decimals >= 0 AND decimals <= 36),
  PRIMARY KEY (chain_id, address)
);

-- Append-only time series, one row per (chain, address, block).
CREATE TABLE reserve_state_series (
  chain_id                          bigint NOT NULL,
  asset                             evm_address NOT NULL,
  block_number                      bigint NOT NULL,
  block_timestamp                   bigint NOT NULL,
  configuration                     uint256 NOT NULL,
  liquidity_index                   uint128 NOT NULL,
  variable_borrow_index             uint128 NOT NULL,
  current_liquidity_rate            uint128 NOT NULL,
  current_variable_borrow_rate      uint128 NOT NULL,
  last_update_timestamp             bigint NOT NULL,
  a_token_scaled_total_supply       uint256 NOT NULL,
  variable_debt_scaled_total_supply uint256 NOT NULL,
  accrued_to_treasury               uint128 NOT NULL,
  isolation_mode_total_debt         uint128 NOT NULL,
  available_liquidity               uint256 NOT NULL,
  PRIMARY KEY (chain_id, asset, block_number)
);
CREATE INDEX reserve_state_series_time ON reserve_state_series (chain_id, asset, block_timestamp);

CREATE TABLE vault_state_series (
  chain_id        bigint NOT NULL,
  address         evm_address NOT NULL,
  block_number    bigint NOT NULL,
  block_timestamp bigint NOT NULL,
  chi             uint256 NOT NULL,
  rho             bigint NOT NULL,
  rate            uint256 NOT NULL,
  total_supply    uint256 NOT NULL,
  idle_assets     uint256,
  deposit_cap     uint256,
  PRIMARY KEY (chain_id, address, block_number)
);
CREATE INDEX vault_state_series_time ON vault_state_series (chain_id, address, block_timestamp);

CREATE TABLE price_series (
  chain_id        bigint NOT NULL,
  asset           evm_address NOT NULL,
  block_number    bigint NOT NULL,
  block_timestamp bigint NOT NULL,
  price           uint256 NOT NULL,
  updated_at      bigint NOT NULL,
  PRIMARY KEY (chain_id, asset, block_number)
);
CREATE INDEX price_series_time ON price_series (chain_id, asset, block_timestamp);

CREATE TABLE rate_limit_series (
  chain_id        bigint NOT NULL,
  key             evm_bytes32 NOT NULL,
  block_number    bigint NOT NULL,
  block_timestamp bigint NOT NULL,
  max_amount      uint256 NOT NULL,
  slope           uint256 NOT NULL,
  last_amount     uint256 NOT NULL,
  last_updated    bigint NOT NULL,
  PRIMARY KEY (chain_id, key, block_number)
);
CREATE INDEX rate_limit_series_time ON rate_limit_series (chain_id, key, block_timestamp);
