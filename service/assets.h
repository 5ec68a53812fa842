/* Static web assets compiled into the binary (cmake/embed_assets.c writes the table at build time
 * from service/web/ and the vendored npm bundles): the /ops page, /docs, uPlot and Redoc. */
#ifndef SPARKD_SERVICE_ASSETS_H
#define SPARKD_SERVICE_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct svc_asset {
  const char *path;         /* the URL path it is served at: "/ops", "/assets/ops.js" */
  const char *content_type; /* with charset for text */
  bool immutable;           /* the path names the version: cached for a year; else revalidated */
  const unsigned char *data;
  size_t len;
  const char *etag; /* quoted SHA-256 prefix of data */
};

extern const struct svc_asset svc_assets[];
extern const size_t svc_assets_count;

/* Returns the asset served at path, or NULL. */
const struct svc_asset *svc_asset_find(const char *path);

#endif
