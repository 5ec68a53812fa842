/* COPY FROM STDIN for bulk loads (db/pq_copy.c). The caller formats rows in COPY text format. */
#ifndef SPARKD_DB_COPY_H
#define SPARKD_DB_COPY_H

#include <stddef.h>

#include "db/db.h"

/* Returns DB_OK once `COPY ... FROM STDIN` (sql) has started on conn. */
db_status db_copy_begin(db_conn *conn, const char *sql);
/* Returns DB_OK after sending len bytes of row data. */
db_status db_copy_put(db_conn *conn, const char *data, size_t len);
/* Returns the status of the finished COPY; *rows (may be NULL) gets the row count. */
db_status db_copy_end(db_conn *conn, uint64_t *rows);

#endif
