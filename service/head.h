/* The checks sparkd makes on a request head before routing it: the raw path, its encoded "/" and
 * NUL, the body's framing and the Host header. Pure (no libmicrohttpd), so httpd.c and the fuzz
 * target fuzz/head.c run the same code. */
#ifndef SPARKD_SERVICE_HEAD_H
#define SPARKD_SERVICE_HEAD_H

#include <stdbool.h>
#include <stddef.h>

/* Copies the request target's path (up to a '?') into out, truncated to cap - 1 bytes, with a NUL;
 * returns out. */
char *svc_head_raw_path(const char *uri, char *out, size_t cap);

/* Returns true when a raw path holds %2F or %00 (refused: 400 invalid_path). */
bool svc_head_path_refused(const char *path);

/* What a request head says about the body's length, gathered header by header. */
struct svc_framing {
  unsigned content_length, transfer_encoding;
  bool chunked_only; /* every Transfer-Encoding is exactly "chunked" */
  bool key_space;    /* a header name holds white space ("Content-Length :") */
  unsigned host;
  bool length_not_digits; /* a Content-Length is not 1*DIGIT */
};
#define SVC_FRAMING_INIT                                                                                               \
  { 0, 0, true, false, 0, false }

/* Counts one header (value may be NULL) into f. */
void svc_framing_add(struct svc_framing *f, const char *key, const char *value);
/* Returns why the body's length could be read two ways, or NULL when it cannot. */
const char *svc_framing_refused(const struct svc_framing *f);
/* Returns why the request's Host is refused for HTTP version `version` with `hosts` Host
 * headers, or NULL. */
const char *svc_head_host_refused(const char *version, unsigned hosts);

#endif
