-- 0011: the JSON-RPC indexer (`sparkd index`).
--
-- chain_blocks gains the parent hash of each applied block, so a reorg can be found by walking
-- back; imports from files leave it NULL. index_status and index_rpc_calls hold what the indexer
-- saw (the node's head, the block applied, RPC calls and errors by method) for /metrics and
-- /readyz of every replica.

ALTER TABLE chain_blocks ADD COLUMN parent_hash evm_bytes32;

CREATE TABLE index_status (
  chain_id          bigint PRIMARY KEY CHECK (chain_id > 0),
  head_block        bigint CHECK (head_block >= 0),
  head_timestamp    bigint CHECK (head_timestamp >= 0),
  head_seen_at      timestamptz,
  applied_block     bigint CHECK (applied_block >= 0),
  applied_timestamp bigint CHECK (applied_timestamp >= 0),
  applied_at        timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE index_rpc_calls (
  chain_id bigint NOT NULL CHECK (chain_id > 0),
  method   text NOT NULL,
  calls    bigint NOT NULL CHECK (calls >= 0),
  errors   bigint NOT NULL CHECK (errors >= 0),
  PRIMARY KEY (chain_id, method)
);

-- Accounts a rewind removed (they were written on the abandoned branch): read again with the next
-- applied block, and kept here until then so that a restart in between does not lose them.
CREATE TABLE index_pending_accounts (
  chain_id bigint NOT NULL CHECK (chain_id > 0),
  address  evm_address NOT NULL,
  PRIMARY KEY (chain_id, address)
);
