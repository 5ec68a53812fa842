/* bench/margin.sh, database part: batch recomputes of every portfolio (partner_margin_recompute_all),
 * each in one transaction against SPARKD_DATABASE_URL; prints each pass's wall time and counts.
 *
 *   bench_margin_db [ARG...]
 *
 * Without arguments, one pass. Otherwise the arguments in order, in this one process (as the
 * worker runs its passes: the legs read by a pass are kept for the next one): "pass:LABEL" prints
 * LABEL and runs a pass, "sql:STATEMENTS" runs STATEMENTS (autocommit) between passes, untimed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "partner/margin.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pass(db_conn *c) {
  double a = now_s();
  struct partner_margin_batch_stats st;
  db_status s = db_exec(c, "BEGIN");
  if (s == DB_OK) s = partner_margin_recompute_all(c, (uint64_t)time(NULL), &st);
  double b = now_s();
  if (s == DB_OK) s = db_exec(c, "COMMIT");
  double commit_ms = (now_s() - b) * 1e3;
  double t = now_s() - a;
  if (s != DB_OK) {
    fprintf(stderr, "margin_db: %s (%s)\n", db_status_name(s), db_last_error(c));
    return 1;
  }
  printf("batch recompute: %llu portfolios in %.0f ms (read %.0f, compute %.0f, write %.0f, commit %.0f; legs read "
         "for %llu; %llu unchanged, %llu band changes, %llu outbox rows, %llu not computable)\n",
         (unsigned long long)st.portfolios, t * 1e3, st.read_ms, st.compute_ms, st.write_ms, commit_ms,
         (unsigned long long)st.legs_reread, (unsigned long long)st.unchanged, (unsigned long long)st.band_changes,
         (unsigned long long)st.outbox, (unsigned long long)st.not_computable);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  const char *url = getenv("SPARKD_DATABASE_URL");
  char err[256];
  db_conn *c = url ? db_conn_open(url, 5000, err, sizeof err) : NULL;
  if (!c) {
    fprintf(stderr, "margin_db: no connection\n");
    return 1;
  }
  int rc = argc > 1 ? 0 : pass(c);
  for (int i = 1; i < argc && rc == 0; i++) {
    if (strncmp(argv[i], "pass:", 5) == 0) {
      printf("%s\n", argv[i] + 5);
      fflush(stdout);
      rc = pass(c);
    } else if (strncmp(argv[i], "sql:", 4) == 0) {
      if (db_exec(c, argv[i] + 4) != DB_OK) {
        fprintf(stderr, "margin_db: %s\n", db_last_error(c));
        rc = 1;
      }
    } else {
      fprintf(stderr, "margin_db: unknown argument %s\n", argv[i]);
      rc = 2;
    }
  }
  db_conn_close(c);
  return rc;
}
