-- 0004: API keys and scopes, partners, custodian-held positions and their attestations,
-- idempotency keys and the append-only audit log (issue 7, spec risk-engine §6).
--
-- Who writes what:
--   api_keys, partners          `sparkd keys create|revoke` (service/cmd_keys.c)
--   partner_positions,
--   partner_collateral_lines,
--   partner_attestations,
--   partner_attestation_balances  the partner routes (handlers/partner_positions.c), each write in
--                                 one transaction with its idempotency row and its audit row
--   idempotency_keys, audit_log  service/partner_write.c
-- Reading for the LTV record (risk-engine §6.4): a position's collateral lines give the assets
-- (chain_id, asset -> prices, assets.decimals) and haircuts; the newest attestation
-- (partner_attestations_latest index) gives the balances as of a time; the debt columns give
-- principal, APR and accrual start; the threshold ladder and cure period give the state machine;
-- max_price_staleness_seconds bounds prices.updated_at. Amounts are integers in the asset's
-- smallest unit (uint256, as on chain); rates and thresholds are basis points.

-- A partner (a lender, custodian or borrower platform using the partner API).
CREATE TABLE partners (
  partner_id bigserial PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- API keys: the secret is shown once by `sparkd keys create`; only its SHA-256 (lowercase hex) is
-- kept. scope partner needs a partner; admin and ops keys have none. A revoked key stays (audit
-- rows point at it) with revoked_at set. Lookup: one prepared query by key_sha256 (unique index).
CREATE TABLE api_keys (
  key_id     bigserial PRIMARY KEY,
  scope      text NOT NULL CHECK (scope IN ('admin', 'ops', 'partner')),
  partner_id bigint REFERENCES partners (partner_id),
  key_sha256 text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
  key_prefix text NOT NULL, -- the first characters of the key, to tell keys apart in `keys list`
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  CHECK ((scope = 'partner') = (partner_id IS NOT NULL))
);

-- A loan against collateral held off chain (risk-engine §6.1: Exposure + Collateral Package).
-- external_id is the partner's own reference, unique per partner. The threshold ladder is in LTV
-- basis points (debt / haircut-weighted collateral value): warning < margin_call < liquidation
-- <= 10000, and a margin call clears only below return_to (< margin_call). version counts writes
-- (1 on create, +1 per PATCH) so a reader can tell which terms an LTV record was computed on.
CREATE TABLE partner_positions (
  position_id                 bigserial PRIMARY KEY,
  partner_id                  bigint NOT NULL REFERENCES partners (partner_id),
  external_id                 text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
  borrower                    text NOT NULL CHECK (length(borrower) BETWEEN 1 AND 256),
  custodian                   text NOT NULL CHECK (length(custodian) BETWEEN 1 AND 256),
  -- debt: an asset priced by the imported oracle, principal in its smallest unit, simple APR
  debt_chain_id               bigint NOT NULL CHECK (debt_chain_id > 0),
  debt_asset                  evm_address NOT NULL,
  debt_principal              uint256 NOT NULL,
  debt_apr_bps                integer NOT NULL CHECK (debt_apr_bps BETWEEN 0 AND 100000),
  debt_accrual_start          timestamptz NOT NULL,
  -- threshold ladder, LTV basis points
  warning_bps                 integer NOT NULL CHECK (warning_bps BETWEEN 0 AND 10000),
  margin_call_bps             integer NOT NULL CHECK (margin_call_bps BETWEEN 0 AND 10000),
  liquidation_bps             integer NOT NULL CHECK (liquidation_bps BETWEEN 0 AND 10000),
  return_to_bps               integer NOT NULL CHECK (return_to_bps BETWEEN 0 AND 10000),
  cure_period_seconds         integer NOT NULL CHECK (cure_period_seconds BETWEEN 0 AND 31536000),
  max_price_staleness_seconds integer NOT NULL CHECK (max_price_staleness_seconds BETWEEN 1 AND 31536000),
  version                     integer NOT NULL DEFAULT 1,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now(),
  CHECK (warning_bps < margin_call_bps AND margin_call_bps < liquidation_bps AND return_to_bps < margin_call_bps),
  UNIQUE (partner_id, external_id)
);
-- every partner query filters by partner_id: list in id order (keyset), get by id
CREATE UNIQUE INDEX partner_positions_partner_id ON partner_positions (partner_id, position_id);

-- The collateral lines of a position (line_no from 0 in the order given). haircut_bps weights the
-- line's value: weighted = value * (10000 - haircut_bps) / 10000. amount is what the position was
-- opened with; attestations report the current balances.
CREATE TABLE partner_collateral_lines (
  position_id bigint NOT NULL REFERENCES partner_positions (position_id) ON DELETE CASCADE,
  line_no     integer NOT NULL CHECK (line_no >= 0),
  chain_id    bigint NOT NULL CHECK (chain_id > 0),
  asset       evm_address NOT NULL,
  amount      uint256 NOT NULL,
  haircut_bps integer NOT NULL DEFAULT 0 CHECK (haircut_bps BETWEEN 0 AND 10000),
  PRIMARY KEY (position_id, line_no),
  UNIQUE (position_id, chain_id, asset)
);

-- A custodian's statement of a position's balances as of a time, with the custodian's own
-- reference (unique per position). partner_id is copied from the position so the partner filter
-- stays in SQL without a join.
CREATE TABLE partner_attestations (
  attestation_id      bigserial PRIMARY KEY,
  position_id         bigint NOT NULL REFERENCES partner_positions (position_id) ON DELETE CASCADE,
  partner_id          bigint NOT NULL REFERENCES partners (partner_id),
  as_of               timestamptz NOT NULL,
  custodian_reference text NOT NULL CHECK (length(custodian_reference) BETWEEN 1 AND 256),
  created_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (position_id, custodian_reference)
);
-- the latest attestation of a position: ORDER BY as_of DESC, attestation_id DESC LIMIT 1
CREATE INDEX partner_attestations_latest ON partner_attestations (position_id, as_of DESC, attestation_id DESC);

-- The balances of one attestation, one row per collateral asset of the position.
CREATE TABLE partner_attestation_balances (
  attestation_id bigint NOT NULL REFERENCES partner_attestations (attestation_id) ON DELETE CASCADE,
  chain_id       bigint NOT NULL CHECK (chain_id > 0),
  asset          evm_address NOT NULL,
  amount         uint256 NOT NULL,
  PRIMARY KEY (attestation_id, chain_id, asset)
);

-- Idempotency-Key handling: the first request with a (key, Idempotency-Key, method, path) claims
-- the row in its write transaction and stores its response there; a repeat with the same body
-- (SHA-256 of the raw bytes) replays status and body, a different body is 409. Only successful
-- writes are stored (a rejected request leaves nothing, so it may be corrected and retried).
-- created_at is indexed for the purge of old keys.
CREATE TABLE idempotency_keys (
  key_id          bigint NOT NULL REFERENCES api_keys (key_id),
  idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  method          text NOT NULL,
  path            text NOT NULL,
  request_sha256  text NOT NULL CHECK (request_sha256 ~ '^[0-9a-f]{64}$'),
  response_status integer NOT NULL,
  response_body   text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (key_id, idempotency_key, method, path)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Every partner (and admin) write, in the same transaction as the write. Append-only: UPDATE,
-- DELETE and TRUNCATE are refused by triggers.
CREATE TABLE audit_log (
  audit_id    bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  key_id      bigint NOT NULL REFERENCES api_keys (key_id),
  partner_id  bigint REFERENCES partners (partner_id),
  method      text NOT NULL,
  route       text NOT NULL, -- the route template, e.g. /v1/partner/positions/{id}
  path        text NOT NULL,
  request_id  text NOT NULL,
  body_sha256 text NOT NULL CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
  status      integer NOT NULL,
  position_id bigint
);
CREATE INDEX audit_log_partner_at ON audit_log (partner_id, at);
CREATE INDEX audit_log_position ON audit_log (position_id) WHERE position_id IS NOT NULL;

CREATE FUNCTION sparkd_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION sparkd_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION sparkd_refuse_change();
