#ifndef SPARKD_DB_VERSION_H
#define SPARKD_DB_VERSION_H
/* Returns libpq's version as "MAJOR.MINOR" text (for `sparkd version`). */
const char *db_libpq_version(void);
#endif
