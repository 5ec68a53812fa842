/* bench/margin.sh, database part: one batch recompute of every portfolio
 * (partner_margin_recompute_all) in one transaction against SPARKD_DATABASE_URL; prints the wall
 * time and the pass's counts. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "db/db.h"
#include "partner/margin.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
  const char *url = getenv("SPARKD_DATABASE_URL");
  char err[256];
  db_conn *c = url ? db_conn_open(url, 5000, err, sizeof err) : NULL;
  if (!c) {
    fprintf(stderr, "margin_db: no connection\n");
    return 1;
  }
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
    db_conn_close(c);
    return 1;
  }
  printf("batch recompute: %llu portfolios in %.0f ms (read %.0f, compute %.0f, write %.0f, commit %.0f; %llu "
         "unchanged, %llu band changes, %llu outbox rows, %llu not computable)\n",
         (unsigned long long)st.portfolios, t * 1e3, st.read_ms, st.compute_ms, st.write_ms, commit_ms,
         (unsigned long long)st.unchanged, (unsigned long long)st.band_changes, (unsigned long long)st.outbox,
         (unsigned long long)st.not_computable);
  db_conn_close(c);
  return 0;
}
