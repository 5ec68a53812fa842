/* Private to db/: each area's statement array, for the one registry in db/statements.c. */
#ifndef SPARKD_DB_AREAS_H
#define SPARKD_DB_AREAS_H

#include <stddef.h>

#include "db/db.h"

extern const struct db_statement db_markets_statements[];
extern const size_t db_markets_statements_n;
extern const struct db_statement db_savings_statements[];
extern const size_t db_savings_statements_n;
extern const struct db_statement db_liquidity_statements[];
extern const size_t db_liquidity_statements_n;
extern const struct db_statement db_accounts_statements[];
extern const size_t db_accounts_statements_n;

#endif
