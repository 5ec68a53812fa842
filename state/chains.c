#include "state/chains.h"

#include "db/markets.h"

static db_status chains_row(const db_row *row, void *arg) {
  struct state_chains *c = arg;
  if (c->n == sizeof c->v / sizeof c->v[0]) return DB_OK;
  struct state_as_of *a = &c->v[c->n];
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &a->chain_id, 0, NULL},
      {"block_number", DB_COL_INT64, &a->block_number, 0, NULL},
      {"block_timestamp", DB_COL_INT64, &a->block_timestamp, 0, NULL},
  };
  db_status s = db_row_get(row, cols, 3);
  if (s == DB_OK) c->n++;
  return s;
}

db_status state_chains_load(db_conn *conn, struct state_chains *c) {
  c->n = 0;
  return db_chains_as_of(conn, chains_row, c);
}

const struct state_as_of *state_chains_find(const struct state_chains *c, int64_t chain_id) {
  for (size_t i = 0; i < c->n; i++)
    if (c->v[i].chain_id == chain_id) return &c->v[i];
  return NULL;
}
