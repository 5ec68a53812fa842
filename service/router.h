/* The route table (STYLE rule 1): every route is one row in service/router.c. 404, 405 and
 * OPTIONS are decided by svc_route_match and nowhere else. */
#ifndef SPARKD_SERVICE_ROUTER_H
#define SPARKD_SERVICE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct svc_request;

/* What a handler did (STYLE rule 3). */
enum svc_handler_result {
  SVC_HANDLED = 0,   /* a response was queued (success or a client error) */
  SVC_HANDLER_FATAL, /* nothing queued: the caller answers 500 internal_error */
};

typedef enum svc_handler_result (*svc_handler_fn)(struct svc_request *req);

enum svc_method { SVC_GET = 1, SVC_POST = 2, SVC_PUT = 4, SVC_PATCH = 8, SVC_DELETE = 16 };
enum svc_scope { SVC_SCOPE_PUBLIC = 0, SVC_SCOPE_PARTNER, SVC_SCOPE_OPS, SVC_SCOPE_ADMIN };

#define SVC_MAX_PATH_PARAMS 4

struct svc_route {
  enum svc_method method;
  const char *path; /* template: "/v1/markets/{chain}/reserves/{asset}" */
  svc_handler_fn handler;
  size_t body_limit; /* 0 = no body accepted; SIZE_MAX = the configured default */
  enum svc_scope scope;
};

extern const struct svc_route svc_routes[];
extern const size_t svc_routes_count;

/* The outcome of matching a method and path against the table. */
struct svc_route_match {
  const struct svc_route *route;      /* NULL when no route has that path for the method */
  bool path_exists;                   /* some route has this path (then a NULL route means 405) */
  const struct svc_route *path_route; /* the first route with this path (metrics and logs of 405, OPTIONS) */
  unsigned allow;                     /* svc_method bits of every route with this path (for Allow) */
  unsigned nparams;
  struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
  } params[SVC_MAX_PATH_PARAMS];
};

/* Returns true when a route matched method+path; fills *m either way (see struct). HEAD matches
 * as GET. `path` is the path as sent (not percent-decoded) without the query string; parameter
 * values point into it, still encoded (svc_req_param decodes them). */
bool svc_route_match(const char *method, const char *path, struct svc_route_match *m);
/* Returns "GET", "POST", ... for a single method bit. */
const char *svc_method_name(enum svc_method m);
/* Writes the Allow header value ("GET, HEAD, OPTIONS") for a bit set into buf; returns buf. */
char *svc_allow_header(unsigned allow, char *buf, size_t len);

#endif
