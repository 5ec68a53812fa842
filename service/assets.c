/* The web pages sparkd serves itself: /ops (the risk team's page), /docs (Redoc over
 * /openapi.yaml) and the files under /assets/ they load. Every byte is compiled in
 * (service/assets.h), so the pages work offline and never load anything from another origin; the
 * Content-Security-Policy says so to the browser as well. */
#include "service/assets.h"

#include <microhttpd.h>
#include <string.h>

#include "service/metrics.h"
#include "service/request.h"

/* Only this origin, for everything. The ops page's scripts draw on canvases and set element
 * styles from script (CSSOM, which style-src does not restrict); it never needs inline code. */
static const char csp_ops[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                              "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
                              "frame-ancestors 'none'";
/* Redoc styles itself with styled-components, which writes <style> elements from script: it
 * needs 'unsafe-inline' styles (still no script but our own, nothing from another origin), and
 * its search runs in a Worker made from a blob: URL. */
static const char csp_docs[] = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; font-src 'self'; worker-src 'self' blob:; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const struct svc_asset *svc_asset_find(const char *path) {
  for (size_t i = 0; i < svc_assets_count; i++)
    if (strcmp(svc_assets[i].path, path) == 0) return &svc_assets[i];
  return NULL;
}

static enum svc_handler_result reply_asset(struct svc_request *req, const struct svc_asset *a, const char *csp) {
  bool not_modified = svc_etag_matches(svc_req_header(req, "If-None-Match"), a->etag);
  struct MHD_Response *r =
      MHD_create_response_from_buffer(not_modified ? 0 : a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
  if (!r) return SVC_HANDLER_FATAL;
  if (!not_modified) MHD_add_response_header(r, "Content-Type", a->content_type);
  MHD_add_response_header(r, "ETag", a->etag);
  /* versioned library files never change under their name; our own pages and scripts change with
   * the build, so the browser revalidates them (a 304 while the build is the same) */
  MHD_add_response_header(r, "Cache-Control", a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  MHD_add_response_header(r, "Content-Security-Policy", csp);
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  return svc_queue_response(req, not_modified ? 304 : 200, r, not_modified ? 0 : a->len);
}

/* Answers 404 route_not_found for a name under /assets/ that the build does not hold, as for any
 * path no route has. */
static enum svc_handler_result reply_path(struct svc_request *req, const char *path, const char *csp) {
  const struct svc_asset *a = svc_asset_find(path);
  if (!a) return svc_reply_problem(req, SVC_ERR_route_not_found, "no such asset: %s", req->path);
  return reply_asset(req, a, csp);
}

enum svc_handler_result svc_ops_get(struct svc_request *req) { return reply_path(req, "/ops", csp_ops); }

enum svc_handler_result svc_docs_get(struct svc_request *req) { return reply_path(req, "/docs", csp_docs); }

enum svc_handler_result svc_assets_get(struct svc_request *req) {
  /* the raw path: asset names are plain ASCII, so an escaped name is not one of them */
  return reply_path(req, req->path, csp_ops);
}
