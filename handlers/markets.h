/* Shared by the SparkLend market handlers (handlers/markets.c, handlers/reserves_history.c). */
#ifndef SPARKD_HANDLERS_MARKETS_H
#define SPARKD_HANDLERS_MARKETS_H

#include <stdbool.h>

#include "service/router.h"
#include "state/markets.h"

struct svc_request;

/* Returns true when asset (the {asset} path parameter) is a symbol or "0x" + 40 hex digits; otherwise
 * replies 400 validation_failed, stores the reply's result in *res and returns false. */
bool handler_markets_asset_ok(struct svc_request *req, const char *asset, enum svc_handler_result *res);

#endif
