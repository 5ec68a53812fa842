/* Every handler, one per route row in service/router.c. */
#ifndef SPARKD_HANDLERS_H
#define SPARKD_HANDLERS_H

#include "service/router.h"

/* Each returns SVC_HANDLED once it queued a response, SVC_HANDLER_FATAL otherwise. */
enum svc_handler_result handler_healthz_get(struct svc_request *req);
enum svc_handler_result handler_readyz_get(struct svc_request *req);
enum svc_handler_result handler_metrics_get(struct svc_request *req);
enum svc_handler_result handler_openapi_get(struct svc_request *req);
enum svc_handler_result handler_rates_convert_post(struct svc_request *req);

#endif
