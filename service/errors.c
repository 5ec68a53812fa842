#include "service/errors.h"

static const struct {
  const char *code;
  unsigned status;
  const char *title;
} table[SVC_ERR__COUNT] = {
#define X(code, status, title) {#code, status, title},
#include "service/errors.def"
#undef X
};

const char *svc_error_code(enum svc_error e) { return e < SVC_ERR__COUNT ? table[e].code : "internal_error"; }
unsigned svc_error_status(enum svc_error e) { return e < SVC_ERR__COUNT ? table[e].status : 500; }
const char *svc_error_title(enum svc_error e) { return e < SVC_ERR__COUNT ? table[e].title : "internal error"; }
