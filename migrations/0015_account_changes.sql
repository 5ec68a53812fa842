-- 0015: which accounts each import wrote, so the state cache re-reads only those (issue 13,
-- "Incremental state"; docs/architecture.md "A generation of state").
-- One row per chain, updated by every applied import in its transaction: seq counts the imports
-- (the import's advisory lock orders them, so seq grows in commit order), block_number and
-- block_timestamp are the chain's block it left (a chain row at another block was written by
-- something else: the cache then reads every account), full_seq is the last import that may have
-- changed any account (a full-mode snapshot), and account_changes holds the changes of every
-- import from kept_from on (older ones are pruned).
CREATE TABLE account_change_heads (
  chain_id        bigint PRIMARY KEY,
  seq             bigint NOT NULL CHECK (seq > 0),
  block_number    bigint NOT NULL,
  block_timestamp bigint NOT NULL,
  full_seq        bigint NOT NULL,
  kept_from       bigint NOT NULL
);
-- The accounts a delta-mode import wrote or removed (address as in accounts).
CREATE TABLE account_changes (
  chain_id bigint NOT NULL,
  seq      bigint NOT NULL,
  address  text NOT NULL,
  PRIMARY KEY (chain_id, seq, address)
);
