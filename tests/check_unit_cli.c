/* ctest-label: unit */
/* The sparkd binary's subcommands: `--help` anywhere prints the usage on stdout and exits 0
 * without reading the configuration or the database; an unknown argument exits 2. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Returns the exit status of `sparkd args` with an unusable database URL; out gets stdout. */
static int run(const char *args, char *out, size_t out_len) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "SPARKD_DATABASE_URL='postgresql:///nowhere?host=/nonexistent' '%s' %s 2>/dev/null",
           SPARKD_BINARY, args);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = fread(out, 1, out_len - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(help_anywhere) {
  static const char *const cases[] = {"--help",           "serve --help",       "migrate --help",
                                      "import --help",    "demo-data --help",   "version --help",
                                      "keys --help",      "keys create --help", "keys create --scope admin -h",
                                      "keys list --help", "keys revoke --help", "keys signing-create --help"};
  char out[8192];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int st = run(cases[i], out, sizeof out);
    ck_assert_msg(st == 0, "sparkd %s exited %d", cases[i], st);
    ck_assert_msg(strstr(out, "sparkd") != NULL, "sparkd %s printed no usage: %s", cases[i], out);
  }
}
END_TEST

START_TEST(bad_usage_exits_2) {
  char out[8192];
  ck_assert_int_eq(run("keys create --no-such-flag", out, sizeof out), 2);
  ck_assert_int_eq(run("keys", out, sizeof out), 2);
  ck_assert_int_eq(run("no-such-command", out, sizeof out), 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("unit");
  tcase_add_test(tc, help_anywhere);
  tcase_add_test(tc, bad_usage_exits_2);
  suite_add_tcase(s, tc);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
