/* The sparkd.snapshot/1 parser and validator (what `sparkd import` and POST /v1/admin/snapshots
 * run on untrusted files and bodies): the input is split as the importer splits it (one document
 * or NDJSON) and each piece is parsed; a refusal must name at least one problem, an acceptance
 * none, and every record of an accepted snapshot is read so that ASan sees its bounds. */
#include <string.h>

#include "chain/snapshot.h"
#include "fuzz/fuzz.h"

static bool terminated(const char *s, size_t cap) { return memchr(s, 0, cap) != NULL; }

/* Reads what an accepted snapshot holds, checking the invariants docs/snapshot.md promises. */
static void walk(const struct chain_snapshot *s) {
  FUZZ_CHECK(terminated(s->block_hash, sizeof s->block_hash), "block_hash");
  for (size_t i = 0; i < s->n_assets; i++)
    FUZZ_CHECK(strlen(s->assets[i].address) == 42 && terminated(s->assets[i].symbol, CHAIN_SNAPSHOT_TEXT_MAX),
               "asset %zu", i);
  for (size_t i = 0; i < s->n_reserves; i++)
    FUZZ_CHECK(strlen(s->reserves[i].asset) == 42 && strlen(s->reserves[i].irm.spread_text) <= U256_DEC_MAX + 1,
               "reserve %zu", i);
  for (size_t i = 0; i < s->n_emode; i++)
    FUZZ_CHECK(terminated(s->emode[i].label, CHAIN_SNAPSHOT_TEXT_MAX), "emode %zu", i);
  for (size_t i = 0; i < s->n_prices; i++)
    FUZZ_CHECK(strlen(s->prices[i].asset) == 42, "price %zu", i);
  for (size_t i = 0; i < s->n_accounts; i++) {
    const struct chain_snap_account *a = &s->accounts[i];
    FUZZ_CHECK(strlen(a->address) == 42, "account %zu", i);
    for (uint32_t k = 0; k < a->n_positions; k++)
      FUZZ_CHECK(!u256_is_zero(a->positions[k].scaled_a_token_balance) ||
                     !u256_is_zero(a->positions[k].scaled_variable_debt),
                 "account %zu keeps a zero position", i);
  }
  for (size_t i = 0; i < s->n_vaults; i++)
    FUZZ_CHECK(strlen(s->vaults[i].address) == 42, "vault %zu", i);
  for (size_t i = 0; i < s->n_venues; i++)
    FUZZ_CHECK(terminated(s->venues[i].id, CHAIN_SNAPSHOT_TEXT_MAX), "venue");
  for (size_t i = 0; i < s->n_allocations; i++)
    FUZZ_CHECK(terminated(s->allocations[i].venue, CHAIN_SNAPSHOT_TEXT_MAX), "allocation");
  for (size_t i = 0; i < s->n_idle; i++)
    FUZZ_CHECK(strlen(s->idle[i].asset) == 42, "idle");
  for (size_t i = 0; i < s->n_rate_limits; i++)
    FUZZ_CHECK(strlen(s->rate_limits[i].key) == 66, "rate limit key");
  for (size_t i = 0; i < s->n_oracles; i++)
    FUZZ_CHECK(terminated(s->oracles[i].threshold, U256_DEC_MAX + 2) &&
                   terminated(s->oracles[i].latest_answer, U256_DEC_MAX + 2),
               "oracle %zu", i);
}

int fuzz_snapshot(const uint8_t *data, size_t size) {
  /* a private copy, unterminated, so that a read past the piece is an ASan report */
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  memcpy(text, data, size);
  struct chain_snapshot_errors *errs = malloc(sizeof *errs);
  struct chain_snapshot_reader rd;
  chain_snapshot_reader_init(&rd, text, size);
  const char *piece;
  size_t plen;
  unsigned pieces = 0;
  while (chain_snapshot_reader_next(&rd, &piece, &plen) && pieces++ < 16) {
    FUZZ_CHECK(piece >= text && piece + plen <= text + size, "a piece outside the input");
    memset(errs, 0, sizeof *errs);
    struct chain_snapshot *s = chain_snapshot_parse(piece, plen, errs);
    FUZZ_CHECK(errs->n <= CHAIN_SNAPSHOT_MAX_ERRORS, "error count %u", errs->n);
    for (unsigned i = 0; i < errs->n; i++)
      FUZZ_CHECK(terminated(errs->msg[i], CHAIN_SNAPSHOT_ERR_LEN), "message");
    if (s) {
      FUZZ_CHECK(errs->n == 0 && errs->dropped == 0, "accepted with %u problems", errs->n);
      walk(s);
    } else {
      FUZZ_CHECK(errs->n > 0, "refused without a problem named");
    }
    chain_snapshot_free(s);
  }
  free(errs);
  free(text);
  return 0;
}
