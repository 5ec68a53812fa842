-- 0005: the partner LTV records (risk-engine §6.4, risk/ltv.h), their history, webhooks and the
-- webhook outbox (issue 7).
--
-- Who writes what:
--   partner_ltv_latest, partner_ltv_history, webhook_outbox   service/ltv.c, in one transaction
--       per recompute (after an import: NOTIFY sparkd_state; after a position or attestation write:
--       NOTIFY sparkd_ltv from the triggers below; and a periodic sweep for staleness and cure
--       deadlines), under the advisory lock 'sparkd_ltv'
--   partner_webhooks                                          handlers/partner_webhooks.c
--   webhook_outbox (delivery columns), webhook_attempts       service/webhook.c (delivery worker)
-- Records are stored unsigned: the fields that are signed are columns here, and sparkd signs the
-- EIP-712 digest (docs/ltv-signature.md) when it serves a record, so a recompute of 10,000
-- positions does no ECDSA work and a key rotation re-signs old records with the new key.

-- The latest record of each position. sequence grows by one with every recompute. hist_state and
-- hist_ltv_bps are the values of the newest history row (to decide the next append without a join).
CREATE TABLE partner_ltv_latest (
  position_id      bigint PRIMARY KEY REFERENCES partner_positions (position_id) ON DELETE CASCADE,
  partner_id       bigint NOT NULL REFERENCES partners (partner_id),
  sequence         bigint NOT NULL CHECK (sequence > 0),
  state            smallint NOT NULL CHECK (state BETWEEN 0 AND 4), -- risk_ltv_state
  ltv_bps          bigint NOT NULL,
  raw_ltv_bps      bigint NOT NULL,
  collateral_value uint256 NOT NULL, -- USD, 8 decimals
  weighted_value   uint256 NOT NULL,
  debt             uint256 NOT NULL, -- debt asset units, principal + accrued
  accrued          uint256 NOT NULL,
  debt_value       uint256 NOT NULL, -- USD, 8 decimals
  as_of            bigint NOT NULL,  -- unix seconds
  call_since       bigint NOT NULL DEFAULT 0, -- 0 = no open margin call
  cure_deadline    bigint NOT NULL DEFAULT 0,
  detail           jsonb NOT NULL,   -- lines with prices and timestamps, debt inputs, ladder, attestation
  hist_state       smallint,
  hist_ltv_bps     bigint
);
CREATE INDEX partner_ltv_latest_partner ON partner_ltv_latest (partner_id, position_id);

-- Records appended on a state change or an LTV move of at least SPARKD_LTV_HISTORY_MIN_BPS.
CREATE TABLE partner_ltv_history (
  position_id      bigint NOT NULL REFERENCES partner_positions (position_id) ON DELETE CASCADE,
  sequence         bigint NOT NULL,
  partner_id       bigint NOT NULL REFERENCES partners (partner_id),
  state            smallint NOT NULL,
  ltv_bps          bigint NOT NULL,
  raw_ltv_bps      bigint NOT NULL,
  collateral_value uint256 NOT NULL,
  weighted_value   uint256 NOT NULL,
  debt             uint256 NOT NULL,
  accrued          uint256 NOT NULL,
  debt_value       uint256 NOT NULL,
  as_of            bigint NOT NULL,
  call_since       bigint NOT NULL,
  cure_deadline    bigint NOT NULL,
  detail           jsonb NOT NULL,
  PRIMARY KEY (position_id, sequence)
);

-- A partner's webhook endpoints. The secret keys the HMAC of every delivery, so it is kept as
-- given (it is shown once on creation and never again). A deleted webhook stays for the outbox
-- and attempt rows that point at it.
CREATE TABLE partner_webhooks (
  webhook_id bigserial PRIMARY KEY,
  partner_id bigint NOT NULL REFERENCES partners (partner_id),
  url        text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
  events     text[] NOT NULL CHECK (cardinality(events) > 0),
  secret     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE INDEX partner_webhooks_partner ON partner_webhooks (partner_id, webhook_id) WHERE deleted_at IS NULL;

-- One row per (event, webhook). event_seq orders deliveries; a webhook gets the events of one
-- position strictly in event_seq order (the next waits until the earlier is delivered or given
-- up). event_id goes in the payload so a receiver can de-duplicate (delivery is at-least-once).
CREATE TABLE webhook_outbox (
  event_seq       bigserial PRIMARY KEY,
  event_id        uuid NOT NULL DEFAULT gen_random_uuid(),
  webhook_id      bigint NOT NULL REFERENCES partner_webhooks (webhook_id),
  partner_id      bigint NOT NULL,
  position_id     bigint NOT NULL,
  event           text NOT NULL,
  payload         jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  gave_up_at      timestamptz
);
CREATE INDEX webhook_outbox_pending ON webhook_outbox (next_attempt_at, event_seq)
  WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX webhook_outbox_order ON webhook_outbox (webhook_id, position_id, event_seq)
  WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Every delivery attempt: HTTP status (NULL when no response) and error text.
CREATE TABLE webhook_attempts (
  event_seq   bigint NOT NULL REFERENCES webhook_outbox (event_seq),
  attempt     integer NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  http_status integer,
  error       text,
  duration_ms integer NOT NULL,
  PRIMARY KEY (event_seq, attempt)
);

-- A position or attestation write asks the LTV worker to recompute that position after commit.
CREATE FUNCTION sparkd_ltv_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sparkd_ltv', NEW.position_id::text);
  RETURN NULL;
END $$;
CREATE TRIGGER partner_positions_ltv AFTER INSERT OR UPDATE ON partner_positions
  FOR EACH ROW EXECUTE FUNCTION sparkd_ltv_notify();
CREATE TRIGGER partner_attestations_ltv AFTER INSERT ON partner_attestations
  FOR EACH ROW EXECUTE FUNCTION sparkd_ltv_notify();
-- collateral lines change with their position (PATCH); the position's own trigger covers them
-- when the position row is updated in the same transaction.
