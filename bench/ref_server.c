/* The reference server for bench/http.sh: libmicrohttpd plus one prepared PostgreSQL query per request, with
 * nothing else. bench/http.sh runs the account-lookup wrk script against it and against sparkd in
 * the same run and prints the ratio.
 *
 *   ref_server PORT DATABASE_URL [THREADS]
 *
 * Listens on 127.0.0.1:PORT with the MHD options sparkd's service/httpd.c uses (epoll internal
 * thread, thread pool of THREADS, default the number of CPUs as SPARKD_THREADS; 30 s connection
 * timeout; default connection limit). Each MHD worker thread owns one PGconn, opened on its first
 * request, on which the statement below is prepared once. GET /v1/accounts/{chain}/{address}
 * runs it with PQexecPrepared and answers 200 with {"rows":N,"values":"..."}: the row count and
 * the raw text of every column of every row, joined; no engine, no logging, no request id.
 * Anything else is a 404; a database failure is a 503 (the connection is reset on the next use). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

/* The same SQL text handlers/accounts_get.c registers as "accounts_get" (what sparkd runs per
 * lookup on a chain above SPARKD_ACCOUNT_CACHE_MAX accounts; below it, sparkd reads the account
 * from its state cache): $1 the chain id, $2 the lowercase address. */
static const char ACCOUNTS_GET_SQL[] =
    "SELECT c.block_number, a.emode_category, p.asset, p.scaled_a_token_balance::text,"
    " p.scaled_variable_debt::text, p.collateral, c.block_timestamp FROM chains c"
    " LEFT JOIN accounts a ON a.chain_id = c.chain_id AND a.address = $2::text"
    " LEFT JOIN positions p ON p.chain_id = a.chain_id AND p.account = a.address"
    " AND (p.scaled_a_token_balance > 0 OR p.scaled_variable_debt > 0)"
    " WHERE c.chain_id = $1::bigint";

static const char *database_url;
static _Thread_local PGconn *pg;

/* Returns this thread's connection with the statement prepared, or NULL. */
static PGconn *thread_conn(void) {
  if (pg && PQstatus(pg) == CONNECTION_OK) return pg;
  if (pg) PQfinish(pg);
  pg = PQconnectdb(database_url);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "ref_server: connect: %s", PQerrorMessage(pg));
    PQfinish(pg);
    pg = NULL;
    return NULL;
  }
  PGresult *r = PQprepare(pg, "accounts_get", ACCOUNTS_GET_SQL, 0, NULL);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) fprintf(stderr, "ref_server: prepare: %s", PQresultErrorMessage(r));
  PQclear(r);
  if (!ok) {
    PQfinish(pg);
    pg = NULL;
  }
  return pg;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body, size_t len) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* Parses /v1/accounts/{chain}/{address} into chain digits and a lowercase address; false if not. */
static int parse_path(const char *url, char chain[24], char addr[43]) {
  static const char prefix[] = "/v1/accounts/";
  if (strncmp(url, prefix, sizeof prefix - 1) != 0) return 0;
  const char *p = url + sizeof prefix - 1;
  size_t n = 0;
  while (p[n] >= '0' && p[n] <= '9' && n < 20)
    n++;
  if (n == 0 || p[n] != '/') return 0;
  memcpy(chain, p, n);
  chain[n] = 0;
  p += n + 1;
  if (strlen(p) != 42 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X')) return 0;
  addr[0] = '0', addr[1] = 'x';
  for (int i = 2; i < 42; i++) {
    char c = p[i];
    if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    addr[i] = c;
  }
  addr[42] = 0;
  return 1;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
  static int first_call;
  if (!*con_cls) { /* headers only: answer on the second call, as MHD expects */
    *con_cls = &first_call;
    return MHD_YES;
  }
  *upload_data_size = 0;
  char chain[24], addr[43];
  if (strcmp(method, "GET") != 0 || !parse_path(url, chain, addr))
    return answer(conn, 404, "{\"error\":\"not found\"}", 21);
  PGconn *c = thread_conn();
  if (!c) return answer(conn, 503, "{\"error\":\"database\"}", 20);
  const char *params[] = {chain, addr};
  PGresult *r = PQexecPrepared(c, "accounts_get", 2, params, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    PQclear(r);
    if (PQstatus(c) != CONNECTION_OK) PQreset(c);
    return answer(conn, 503, "{\"error\":\"database\"}", 20);
  }
  char body[4096];
  int rows = PQntuples(r), cols = PQnfields(r);
  size_t len = (size_t)snprintf(body, sizeof body, "{\"rows\":%d,\"values\":\"", rows);
  for (int i = 0; i < rows; i++) {
    for (int j = 0; j < cols; j++) {
      const char *v = PQgetvalue(r, i, j); /* numbers, hex addresses, t/f: nothing to escape */
      size_t vl = strlen(v);
      if (len + vl + 8 > sizeof body) break;
      if (i || j) body[len++] = ',';
      memcpy(body + len, v, vl);
      len += vl;
    }
  }
  PQclear(r);
  body[len++] = '"';
  body[len++] = '}';
  return answer(conn, 200, body, len);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: ref_server PORT DATABASE_URL [THREADS]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  database_url = argv[2];
  long threads = argc == 4 ? atol(argv[3]) : sysconf(_SC_NPROCESSORS_ONLN);
  if (port <= 0 || port > 65535 || threads <= 0 || threads > 1024) {
    fprintf(stderr, "ref_server: bad port or thread count\n");
    return 2;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, access_handler, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "ref_server: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  int sig;
  sigwait(&sigs, &sig);
  MHD_stop_daemon(d); /* worker threads' PGconns close with the process */
  return 0;
}
