/* ctest-label: unit */
/* Keeps deploy/sparkd.env.example and the config table (util/config.c) in step (STYLE
 * rule 12), both ways:
 * - every util_config_table entry is assigned exactly once in the file, under a comment line,
 *   to its default (double quotes around the value are allowed);
 * - every SPARKD_ name anywhere in the file, comments included, is a table entry. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/config.h"

#define ENV_EXAMPLE SPARKD_SOURCE_DIR "/deploy/sparkd.env.example"
#define MAX_LINES 512

static char *lines[MAX_LINES];
static size_t nlines;

/* Reads the file into lines[] (newlines stripped). */
static void load(void) {
  FILE *f = fopen(ENV_EXAMPLE, "r");
  ck_assert_msg(f != NULL, "cannot open %s", ENV_EXAMPLE);
  char buf[2048];
  nlines = 0;
  while (fgets(buf, sizeof buf, f)) {
    ck_assert_msg(nlines < MAX_LINES, "%s: more than %d lines", ENV_EXAMPLE, MAX_LINES);
    buf[strcspn(buf, "\r\n")] = 0;
    lines[nlines] = strdup(buf);
    ck_assert_ptr_nonnull(lines[nlines]);
    nlines++;
  }
  fclose(f);
}

static void unload(void) {
  for (size_t i = 0; i < nlines; i++)
    free(lines[i]);
  nlines = 0;
}

/* Returns the table entry named name[0..len), or NULL. */
static const struct util_config_entry *entry_named(const char *name, size_t len) {
  for (size_t i = 0; i < util_config_table_len; i++)
    if (strlen(util_config_table[i].env) == len && strncmp(util_config_table[i].env, name, len) == 0)
      return &util_config_table[i];
  return NULL;
}

START_TEST(every_table_entry_is_in_the_file) {
  load();
  ck_assert_uint_gt(util_config_table_len, 0);
  for (size_t i = 0; i < util_config_table_len; i++) {
    const struct util_config_entry *e = &util_config_table[i];
    size_t len = strlen(e->env);
    size_t found = 0, at = 0;
    for (size_t l = 0; l < nlines; l++)
      if (strncmp(lines[l], e->env, len) == 0 && lines[l][len] == '=') {
        found++;
        at = l;
      }
    ck_assert_msg(found == 1, "%s is assigned %zu times in deploy/sparkd.env.example (want once)", e->env, found);
    ck_assert_msg(at > 0 && lines[at - 1][0] == '#' && strlen(lines[at - 1]) > 2,
                  "%s in deploy/sparkd.env.example has no comment line above it", e->env);
    const char *val = lines[at] + len + 1;
    size_t vlen = strlen(val);
    if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
      val++;
      vlen -= 2;
    }
    ck_assert_msg(vlen == strlen(e->def) && strncmp(val, e->def, vlen) == 0,
                  "%s: deploy/sparkd.env.example shows \"%.*s\", the table's default is \"%s\"", e->env, (int)vlen, val,
                  e->def);
  }
  unload();
}
END_TEST

START_TEST(every_name_in_the_file_is_in_the_table) {
  load();
  size_t names = 0;
  for (size_t l = 0; l < nlines; l++) {
    for (const char *p = lines[l]; (p = strstr(p, "SPARKD_")) != NULL;) {
      bool word_start = p == lines[l] || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
      size_t len = 0;
      while (isupper((unsigned char)p[len]) || isdigit((unsigned char)p[len]) || p[len] == '_')
        len++;
      if (word_start) {
        ck_assert_msg(entry_named(p, len) != NULL,
                      "deploy/sparkd.env.example line %zu names %.*s, which is not in util_config_table", l + 1,
                      (int)len, p);
        names++;
      }
      p += len;
    }
    /* every non-comment, non-blank line is an assignment of a SPARKD_ variable */
    if (lines[l][0] && lines[l][0] != '#')
      ck_assert_msg(strncmp(lines[l], "SPARKD_", 7) == 0 && strchr(lines[l], '='),
                    "deploy/sparkd.env.example line %zu is neither a comment nor SPARKD_NAME=value", l + 1);
  }
  ck_assert_uint_ge(names, util_config_table_len);
  unload();
}
END_TEST

int main(void) {
  Suite *s = suite_create("envexample");
  TCase *tc = tcase_create("envexample");
  tcase_add_test(tc, every_table_entry_is_in_the_file);
  tcase_add_test(tc, every_name_in_the_file_is_in_the_table);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
