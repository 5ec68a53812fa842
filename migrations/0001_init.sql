-- 0001: the service's own bookkeeping. sparkd_schema_migrations itself is created by the
-- migration runner (db/migrate.c) before any file is applied.
CREATE TABLE sparkd_meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);
INSERT INTO sparkd_meta (key, value) VALUES ('created_by', 'sparkd');
