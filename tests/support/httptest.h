/* API test support: start the real sparkd binary on a free loopback port and talk HTTP/1.1 to it
 * over a plain socket (keep-alive aware). */
#ifndef SPARKD_TESTS_HTTPTEST_H
#define SPARKD_TESTS_HTTPTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct th_sparkd {
  pid_t pid;
  unsigned port;
  char log_path[256]; /* the child's stderr */
};

/* Starts `sparkd serve` with database_url and extra "NAME=value" environment entries (NULL-ended,
 * may be NULL); waits until /healthz answers. Returns 0, or -1 (the log is printed). */
int th_sparkd_start(struct th_sparkd *s, const char *database_url, const char *const *extra_env);
/* Runs `sparkd import FILE` against database_url (stdout discarded); returns its exit status. */
int th_sparkd_import(const char *database_url, const char *file);
/* Runs `sparkd ARGS...` (NULL-ended, at most 14) against database_url with migrations on and warn
 * logging; its stdout goes into out (NUL-terminated, cut at out_len - 1). Returns its exit status,
 * or -1 when it did not exit. */
int th_sparkd_run(const char *database_url, const char *const *args, char *out, size_t out_len);
/* Creates a key with `sparkd keys create --scope scope [--partner partner]` and writes it into key;
 * returns 0, or -1 when the command failed or the key does not fit. */
int th_sparkd_key(const char *database_url, const char *scope, const char *partner, char *key, size_t len);
/* Sends SIGTERM and waits (at most 30 s); returns the exit status, or -1 if it had to be killed. */
int th_sparkd_stop(struct th_sparkd *s);
/* Returns a malloc'd copy of the child's log so far. */
char *th_sparkd_log(const struct th_sparkd *s);

struct th_response {
  int status;
  char *headers; /* raw header block, lines separated by \r\n */
  char *body;    /* NUL-terminated */
  size_t body_len;
};
/* Returns the value of header `name` (case-insensitive) in a malloc'd string, or NULL. */
char *th_header(const struct th_response *r, const char *name);
void th_response_free(struct th_response *r);

/* A client connection; fd < 0 when closed. */
struct th_conn {
  int fd;
  unsigned port;
};
/* Connects to 127.0.0.1:port; returns 0 or -1. */
int th_connect(struct th_conn *c, unsigned port);
void th_close(struct th_conn *c);
/* Sends one request (extra_headers: "Name: value\r\n..." or NULL; body may be NULL) and reads the
 * response. Returns 0, or -1 on a socket error or when the server closed the connection. */
int th_request(struct th_conn *c, const char *method, const char *path, const char *extra_headers, const char *body,
               size_t body_len, struct th_response *out);
/* One request on a fresh connection. */
int th_http(unsigned port, const char *method, const char *path, const char *extra_headers, const char *body,
            struct th_response *out);
/* Sends raw bytes and reads one response (for malformed requests). */
int th_raw(unsigned port, const char *raw, size_t raw_len, struct th_response *out);

/* Returns a free loopback TCP port (bound and released). */
unsigned th_free_port(void);

#endif
