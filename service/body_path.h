/* Test hook for service/body.c: run one of the reader's two paths on its own, so a test can feed
 * both the same inputs. Only tests include this; the service always uses svc_body_decode. */
#ifndef SPARKD_SERVICE_BODY_PATH_H
#define SPARKD_SERVICE_BODY_PATH_H

#include "service/body.h"

enum svc_body_path {
  SVC_BODY_PATH_BOTH,      /* the scanner, then jansson when it declines: svc_body_decode */
  SVC_BODY_PATH_FAST_ONLY, /* the scanner alone */
  SVC_BODY_PATH_SLOW_ONLY, /* jansson alone */
};

/* As svc_body_decode through path. Returns the body or NULL as svc_body_decode does; with
 * SVC_BODY_PATH_FAST_ONLY, NULL means the scanner declined (out zeroed again, *err, detail and
 * errors untouched). */
struct svc_body *svc_body_decode_path(enum svc_body_path path, const char *text, size_t len,
                                      const struct svc_body_field *spec, size_t n, void *out, json_t *errors,
                                      enum svc_error *err, char *detail, size_t detail_len);

#endif
