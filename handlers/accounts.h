/* Shared by the SparkLend account handlers (handlers/accounts_get.c, handlers/quotes_post.c). */
#ifndef SPARKD_HANDLERS_ACCOUNTS_H
#define SPARKD_HANDLERS_ACCOUNTS_H

#include <stdbool.h>

#include "risk/account.h"
#include "state/accounts.h"

struct svc_request;

/* Reads account `lower` into *a from the state cache when x holds the chain's accounts, else with
 * one query on a pooled connection. Returns true with *found set; false after replying (503
 * database_unavailable; 503 state_updating when the database holds the account at a newer block
 * than the cached market, i.e. an import is being loaded) or, with nothing replied (*replied
 * false), on an internal error. */
bool handler_accounts_fetch(struct svc_request *req, const struct state_acc_chain *x, const struct state_acc_view *v,
                            const char *lower, struct risk_account *a, bool *found, bool *replied);

#endif
