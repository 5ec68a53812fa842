/* The stable error codes, generated from service/errors.def (STYLE rule 4). */
#ifndef SPARKD_SERVICE_ERRORS_H
#define SPARKD_SERVICE_ERRORS_H

enum svc_error {
#define X(code, status, title) SVC_ERR_##code,
#include "service/errors.def"
#undef X
  SVC_ERR__COUNT
};

/* Returns the snake_case code of e ("route_not_found"). */
const char *svc_error_code(enum svc_error e);
/* Returns the HTTP status of e. */
unsigned svc_error_status(enum svc_error e);
/* Returns the short lowercase title of e. */
const char *svc_error_title(enum svc_error e);

#endif
