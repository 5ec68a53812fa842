/* `sparkd index [--once]`: reads the chain from an EVM JSON-RPC node (SPARKD_RPC_URL) for the
 * contracts a network file names (SPARKD_NETWORK_FILE), and writes each applied block through the
 * same validate-then-apply path as `sparkd import` (chain_snapshot_parse, db_snapshot_apply: one
 * transaction per block, NOTIFY as an import). The indexer core (chain/index.c) knows no database:
 * the store callbacks below give it db/. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/index.h"
#include "chain/network.h"
#include "chain/snapshot.h"
#include "cli/commands.h"
#include "db/db.h"
#include "db/index.h"
#include "db/lease.h"
#include "db/migrate.h"
#include "db/snapshot.h"
#include "util/log.h"

static void usage(FILE *f) {
  fputs("usage: sparkd index [--once]\n"
        "  Indexes the chain an EVM JSON-RPC node serves (SPARKD_RPC_URL) for the contracts named in\n"
        "  SPARKD_NETWORK_FILE (sparkd.network/1: docs/network-file.md), into SPARKD_DATABASE_URL.\n"
        "  Every read is pinned to one block by hash; each applied block is validated and written in\n"
        "  one transaction like `sparkd import`. The first run starts at the network file's\n"
        "  start_block. Blocks up to the head less SPARKD_INDEX_CONFIRMATIONS are applied; a block\n"
        "  that leaves the node's chain is rewound to the common ancestor and the new branch applied.\n"
        "  One process indexes a chain at a time (the database lease indexer.<chain id>, db/lease.h,\n"
        "  as the workers use); another waits for it, or with --once exits 1.\n"
        "  --once  index up to the current head, then exit (default: follow new heads until SIGTERM)\n"
        "  --help  show this text\n"
        "  Exit status: 0 done (--once) or stopped by a signal, 1 failed, 2 bad usage.\n",
        f);
}

/* The lease's session is dropped by the server after this long without a query: the holder talks
 * to it before each step, each apply and each poll, so only a hung process goes silent this long. */
#define INDEX_LEASE_IDLE_MS 60000u
#define INDEX_LEASE_WAIT_MS 5000u /* one lease round trip, connecting included */
/* steps in a row failing with an answer retrying cannot fix before sparkd index exits 1 */
#define INDEX_PERMANENT_FAILURES 3u

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct store_ctx {
  db_pool *pool;
  db_lease *lease;
  uint64_t chain_id;
  struct chain_snapshot_errors *errs;
  /* RPC counters already stored, so each report adds only what is new */
  struct db_index_rpc_count sent[CHAIN_RPC_MAX_METHODS];
  size_t n_sent;
};

static int st_applied(void *ctx, uint64_t chain_id, uint64_t at, bool *have, uint64_t *number, char hash[67]) {
  struct store_ctx *x = ctx;
  db_status st = db_index_applied_at_or_below(x->pool, chain_id, at, have, number, hash);
  if (st != DB_OK) util_log(UTIL_LOG_ERROR, "index: reading applied blocks: %s", db_status_name(st));
  return st == DB_OK ? 0 : -1;
}

static int st_apply(void *ctx, const char *doc, size_t len, const char *parent_hash, char *err, size_t err_len) {
  struct store_ctx *x = ctx;
  memset(x->errs, 0, sizeof *x->errs);
  struct chain_snapshot *s = chain_snapshot_parse(doc, len, x->errs);
  if (!s) {
    snprintf(err, err_len, "the node's state is not a valid snapshot: %s%s", x->errs->n ? x->errs->msg[0] : "?",
             x->errs->n > 1 ? " (and more)" : "");
    return -1;
  }
  /* A step can outlast the lease's idle timeout (a long back-fill talks only to the node): the
   * server may then have ended the session. db_lease_keep takes it again when nobody else did;
   * when another indexer holds it now, this block is left to that one. */
  if (!db_lease_keep(x->lease, INDEX_LEASE_WAIT_MS)) {
    snprintf(err, err_len, "block %" PRIu64 ": this chain's lease is held by another process", s->block_number);
    chain_snapshot_free(s);
    return -1;
  }
  struct db_snapshot_result res;
  double t0 = now_s();
  db_status st = db_snapshot_apply_block(x->pool, s, false, parent_hash, &res, x->errs);
  double dt = now_s() - t0;
  int rc = 0;
  if (st != DB_OK) {
    snprintf(err, err_len, "block %" PRIu64 ": database error (%s)", s->block_number, db_status_name(st));
    rc = -1;
  } else if (res.outcome == DB_SNAPSHOT_INVALID || res.outcome == DB_SNAPSHOT_OLDER) {
    snprintf(err, err_len, "block %" PRIu64 ": %s%s%s", s->block_number, db_snapshot_outcome_name(res.outcome),
             x->errs->n ? ": " : "", x->errs->n ? x->errs->msg[0] : "");
    rc = -1;
  } else {
    util_log(UTIL_LOG_INFO, "index: chain %" PRIu64 " block %" PRIu64 " applied (%zu accounts read) in %.3f s",
             s->chain_id, s->block_number, s->n_accounts, dt);
  }
  chain_snapshot_free(s);
  return rc;
}

static int st_rewind(void *ctx, uint64_t chain_id, bool have_number, uint64_t number, char (**accounts)[43],
                     size_t *n) {
  struct store_ctx *x = ctx;
  db_status st = db_index_rewind(x->pool, chain_id, have_number, number, accounts, n);
  if (st != DB_OK) util_log(UTIL_LOG_ERROR, "index: rewind: %s", db_status_name(st));
  return st == DB_OK ? 0 : -1;
}

static int st_pending(void *ctx, uint64_t chain_id, char (**accounts)[43], size_t *n) {
  struct store_ctx *x = ctx;
  return db_index_pending(x->pool, chain_id, accounts, n) == DB_OK ? 0 : -1;
}

static void st_pending_done(void *ctx, uint64_t chain_id) {
  struct store_ctx *x = ctx;
  /* if this fails the accounts are only read once more later: harmless */
  if (db_index_pending_clear(x->pool, chain_id) != DB_OK)
    util_log(UTIL_LOG_WARN, "index: pending accounts not cleared");
}

static void st_progress(void *ctx, const struct chain_index_progress *p) {
  struct store_ctx *x = ctx;
  struct db_index_rpc_count d[CHAIN_RPC_MAX_METHODS];
  size_t n = 0;
  for (size_t i = 0; i < p->n_stats && n < CHAIN_RPC_MAX_METHODS; i++) {
    uint64_t c0 = 0, e0 = 0;
    for (size_t j = 0; j < x->n_sent; j++)
      if (strcmp(x->sent[j].method, p->stats[i].method) == 0) c0 = x->sent[j].calls, e0 = x->sent[j].errors;
    d[n++] = (struct db_index_rpc_count){p->stats[i].method, p->stats[i].calls - c0, p->stats[i].errors - e0};
  }
  db_status st = db_index_progress(x->pool, p->chain_id, p->have_head, p->head, p->head_timestamp, p->have_applied,
                                   p->applied, p->applied_timestamp, d, n);
  if (st != DB_OK) {
    util_log(UTIL_LOG_WARN, "index: status not recorded: %s", db_status_name(st));
    return;
  }
  for (size_t i = 0; i < p->n_stats && i < CHAIN_RPC_MAX_METHODS; i++)
    x->sent[i] = (struct db_index_rpc_count){p->stats[i].method, p->stats[i].calls, p->stats[i].errors};
  x->n_sent = p->n_stats < CHAIN_RPC_MAX_METHODS ? p->n_stats : CHAIN_RPC_MAX_METHODS;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void sleep_ms(unsigned ms) {
  /* in slices, so a signal ends the wait soon */
  while (ms && !stop) {
    unsigned k = ms > 100 ? 100 : ms;
    struct timespec ts = {0, (long)k * 1000000L};
    nanosleep(&ts, NULL);
    ms -= k;
  }
}

/* Returns the process exit status. argv[0] is "index". */
int cli_cmd_index(int argc, char **argv, const struct util_config *cfg) {
  bool once = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--once") == 0) {
      once = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "sparkd index: unknown argument %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!cfg->rpc_url[0] || !cfg->network_file[0] || !cfg->database_url[0]) {
    fprintf(stderr, "sparkd index: %s is not set\n",
            !cfg->rpc_url[0]        ? "SPARKD_RPC_URL"
            : !cfg->network_file[0] ? "SPARKD_NETWORK_FILE"
                                    : "SPARKD_DATABASE_URL");
    return 1;
  }
  struct chain_snapshot_errors *errs = calloc(1, sizeof *errs);
  struct chain_network *net = calloc(1, sizeof *net);
  if (!errs || !net) {
    free(errs);
    free(net);
    return 1;
  }
  if (!chain_network_load(cfg->network_file, net, errs)) {
    fprintf(stderr, "sparkd index: %s: not a valid network file:\n", cfg->network_file);
    for (unsigned i = 0; i < errs->n; i++)
      fprintf(stderr, "%s: %s\n", cfg->network_file, errs->msg[i]);
    free(errs);
    free(net);
    return 1;
  }
  char err[512] = "";
  if (cfg->migrate == UTIL_MIGRATE_AUTO && db_migrate_apply(cfg->database_url, &(unsigned){0}, err, sizeof err) != 0) {
    fprintf(stderr, "sparkd index: %s\n", err);
    free(errs);
    free(net);
    return 1;
  }
  db_pool *pool = db_pool_create(cfg->database_url, 2);
  if (!pool) {
    fputs("sparkd index: cannot create a database pool\n", stderr);
    free(errs);
    free(net);
    return 1;
  }
  db_pool_set_wait(pool, cfg->db_wait_ms ? cfg->db_wait_ms : DB_DEFAULT_WAIT_MS);
  char why[256] = "";
  if (db_schema_check(pool, why, sizeof why) != DB_SCHEMA_CURRENT) {
    fprintf(stderr, "sparkd index: database schema is not current (%s); run sparkd migrate\n", why);
    db_pool_destroy(pool);
    free(errs);
    free(net);
    return 1;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  /* One indexer per chain: the same lease as the workers (db/lease.h), named per chain. */
  char lease_name[64];
  snprintf(lease_name, sizeof lease_name, "indexer.%" PRIu64, net->chain_id);
  db_lease *lease = db_lease_create(cfg->database_url, lease_name, INDEX_LEASE_IDLE_MS);
  bool got = false;
  while (lease && !stop) {
    if ((got = db_lease_keep(lease, INDEX_LEASE_WAIT_MS)) || once) break;
    util_log(UTIL_LOG_INFO, "index: chain %" PRIu64 " is indexed by another process; waiting for its lease",
             net->chain_id);
    sleep_ms(cfg->index_poll_ms > 1000 ? cfg->index_poll_ms : 1000);
  }
  if (!got) {
    fprintf(stderr, "sparkd index: chain %" PRIu64 ": %s\n", net->chain_id,
            !lease ? "cannot create the lease"
            : stop ? "stopped"
                   : "another sparkd index holds this chain's lease (or the database did not answer)");
    db_lease_destroy(lease);
    db_pool_destroy(pool);
    free(errs);
    free(net);
    return stop ? 0 : 1;
  }
  struct store_ctx sx = {.pool = pool, .chain_id = net->chain_id, .errs = errs, .lease = lease};
  struct chain_index_store store = {&sx, st_applied, st_apply, st_rewind, st_pending, st_pending_done, st_progress};
  struct chain_index_opts o = {
      .net = net,
      .rpc = {.url = cfg->rpc_url,
              .timeout_ms = cfg->index_rpc_timeout_ms,
              .retries = cfg->index_rpc_retries,
              .batch_max = cfg->index_batch_size},
      .confirmations = cfg->index_confirmations,
      .step_blocks = cfg->index_step_blocks,
      .log_range = cfg->index_log_range,
  };
  struct chain_index *ix = chain_index_new(&o, &store, err, sizeof err);
  if (!ix) {
    fprintf(stderr, "sparkd index: %s\n", err);
    db_pool_destroy(pool);
    free(errs);
    free(net);
    return 1;
  }
  util_log(UTIL_LOG_INFO, "index: chain %" PRIu64 " (%s) from %s", net->chain_id, net->name, cfg->network_file);
  /* a share-price (or Curve virtual-price) APR reads the state apr_window_blocks before the applied block, which is
     itself the confirmations behind the head: past 127 in all, a geth full node no longer has it */
  for (size_t i = 0; i < net->n_venues; i++) {
    const struct chain_net_venue *v = &net->venues[i];
    if (chain_net_venue_windowed(v) && (uint64_t)v->apr_window_blocks + cfg->index_confirmations > 127)
      util_log(UTIL_LOG_WARN,
               "index: venue %s reads the state %u + %u blocks behind the head (apr_window_blocks + "
               "SPARKD_INDEX_CONFIRMATIONS): a geth full node keeps 128; with such a node every step fails",
               v->id, v->apr_window_blocks, cfg->index_confirmations);
  }
  double t0 = now_s();
  int rc = 0;
  unsigned failures = 0, permanent_failures = 0;
  while (!stop) {
    if (!db_lease_keep(lease, INDEX_LEASE_WAIT_MS)) {
      /* lost (the session broke) and maybe taken by another replica: apply nothing until it is ours */
      util_log(UTIL_LOG_WARN, "index: chain %" PRIu64 ": lease not held; waiting for it", net->chain_id);
      if (once) {
        fprintf(stderr, "sparkd index: chain %" PRIu64 ": lost this chain's lease\n", net->chain_id);
        rc = 1;
        break;
      }
      sleep_ms(cfg->index_poll_ms > 1000 ? cfg->index_poll_ms : 1000);
      continue;
    }
    int r = chain_index_step(ix, err, sizeof err);
    if (r > 0) {
      failures = permanent_failures = 0;
      continue;
    }
    if (r < 0) {
      failures++;
      bool permanent = chain_rpc_last_permanent(chain_index_rpc(ix));
      permanent_failures = permanent ? permanent_failures + 1 : 0;
      util_log(UTIL_LOG_WARN, "index: chain %" PRIu64 ": step failed, nothing of it applied: %s", net->chain_id, err);
      /* --once gives a failing node a few polls more than the RPC client's own retries; an answer
         retrying cannot fix (HTTP 401, 403, 404, …: a wrong URL or key) ends following too, after
         a few polls, instead of polling a misconfigured node forever */
      if ((once && failures > 3) || permanent_failures >= INDEX_PERMANENT_FAILURES) {
        fprintf(stderr, "sparkd index: %s%s\n", err, permanent ? " (the node refuses this request; giving up)" : "");
        rc = 1;
        break;
      }
      sleep_ms(cfg->index_poll_ms);
      continue;
    }
    failures = permanent_failures = 0;
    if (once) break;
    sleep_ms(cfg->index_poll_ms);
  }
  const struct chain_index_stats *s = chain_index_stats(ix);
  double dt = now_s() - t0;
  if (once)
    printf("chain %" PRIu64 ": %" PRIu64 " snapshots applied covering %" PRIu64 " blocks, %" PRIu64
           " account reads, %" PRIu64 " reorgs, in %.3f s%s\n",
           net->chain_id, s->blocks_applied, s->blocks_covered, s->accounts_read, s->reorgs, dt, rc ? " (failed)" : "");
  chain_index_free(ix);
  db_lease_destroy(lease);
  db_pool_destroy(pool);
  free(errs);
  free(net);
  return rc;
}
