/* What chain/snapshot.c shares with chain/snapshot_stream.c (not for other rooms). */
#ifndef SPARKD_CHAIN_SNAPSHOT_INTERNAL_H
#define SPARKD_CHAIN_SNAPSHOT_INTERNAL_H

#include <jansson.h>

#include "chain/snapshot.h"

/* Called by chain_snapshot_parse_root_ in place of the in-memory accounts validation. */
typedef void (*chain_snapshot_accounts_hook_)(struct chain_snapshot_errors *e, struct chain_snapshot *s,
                                              const json_t *arr, void *arg);
void chain_snapshot_parse_root_(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *root,
                                chain_snapshot_accounts_hook_ hook, void *hook_arg);
void chain_snapshot_parse_account_(struct chain_snapshot_errors *e, const json_t *o, size_t i,
                                   struct chain_snap_account *a);
/* Adds "$.accounts[i].address: duplicate of $.accounts[first]". */
void chain_snapshot_duplicate_error_(struct chain_snapshot_errors *e, size_t i, size_t first);
const char *chain_snapshot_type_name_(const json_t *v);
void chain_snapshot_spool_free_(struct chain_snap_spool *sp);

#endif
