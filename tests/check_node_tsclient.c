/* ctest-label: node */
/* The TypeScript client (clients/ts/) without a server:
 * - src/schema.ts is what openapi-typescript makes of openapi/openapi.yaml today, byte for byte,
 *   so a route or schema changed without regenerating fails here; and the check has teeth: a
 *   document with one more route generates something else;
 * - the client compiles with typescript 5.9 under strict settings, without Node's types (it is
 *   for browsers too), and test/types.ts compiles: calls the document allows type-check and each
 *   `@ts-expect-error` call (a wrong path, a missing parameter, a wrong type) is refused. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GENERATE "timeout 120 node_modules/.bin/openapi-typescript"
#define TSC "timeout 300 node_modules/.bin/tsc"

/* Runs cmd with `sh -c` in the source tree, stderr with stdout; returns the output (malloc'd) and
 * sets *status to the exit code (-1 when it did not exit normally). */
static char *run(const char *cmd, int *status) {
  char full[8192];
  snprintf(full, sizeof full, "cd '%s' && ( %s ) 2>&1", SPARKD_SOURCE_DIR, cmd);
  FILE *p = popen(full, "r");
  ck_assert_msg(p != NULL, "popen failed for: %s", cmd);
  size_t cap = 1 << 20, len = 0, n;
  char *buf = malloc(cap);
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
    len += n;
  buf[len] = 0;
  int ws = pclose(p);
  *status = (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1;
  return buf;
}

static void require_tools(void) {
  int st;
  free(run("command -v node && test -x node_modules/.bin/openapi-typescript && test -x node_modules/.bin/tsc", &st));
  ck_assert_msg(st == 0, "node or node_modules (openapi-typescript, typescript) missing: run `npm ci` at the "
                         "repository root; the TypeScript client cannot be checked");
}

START_TEST(schema_in_step_with_openapi) {
  require_tools();
  char tmp[] = "/tmp/sparkd-tsgen-XXXXXX", cmd[2048];
  ck_assert_ptr_nonnull(mkdtemp(tmp));
  int st;
  snprintf(cmd, sizeof cmd, GENERATE " openapi/openapi.yaml -o '%s/schema.ts' >/dev/null", tmp);
  char *out = run(cmd, &st);
  ck_assert_msg(st == 0, "openapi-typescript exited %d:\n%s", st, out);
  free(out);
  snprintf(cmd, sizeof cmd, "diff -u clients/ts/src/schema.ts '%s/schema.ts' | head -40", tmp);
  out = run(cmd, &st);
  ck_assert_msg(out[0] == 0,
                "clients/ts/src/schema.ts is not what openapi/openapi.yaml generates; regenerate it with\n"
                "  node_modules/.bin/openapi-typescript openapi/openapi.yaml -o clients/ts/src/schema.ts\n%s",
                out);
  free(out);

  /* one more route in the document: the generated file must change, so the diff above would fail */
  snprintf(cmd, sizeof cmd,
           "sed 's|^paths:$|paths:\\n  /v1/fuzzkit-extra:\\n    get:\\n      operationId: getFuzzkitExtra\\n"
           "      summary: extra\\n      responses:\\n        \"204\":\\n          description: nothing\\n"
           "        \"404\":\\n          description: none|' openapi/openapi.yaml >'%s/extra.yaml' "
           "&& grep -q fuzzkit-extra '%s/extra.yaml' && " GENERATE " '%s/extra.yaml' -o '%s/extra.ts' >/dev/null && "
           "! cmp -s '%s/extra.ts' clients/ts/src/schema.ts && grep -q '\"/v1/fuzzkit-extra\"' '%s/extra.ts'",
           tmp, tmp, tmp, tmp, tmp, tmp);
  out = run(cmd, &st);
  ck_assert_msg(st == 0, "a document with one more route did not generate a different schema.ts:\n%s", out);
  free(out);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  free(run(cmd, &st));
}
END_TEST

START_TEST(client_compiles_for_browsers) {
  require_tools();
  int st;
  char *out = run(TSC " -p clients/ts/tsconfig.json --noEmit", &st);
  ck_assert_msg(st == 0, "tsc on clients/ts (the client alone, no Node types) exited %d:\n%s", st, out);
  free(out);
}
END_TEST

START_TEST(types_refuse_what_the_document_does_not_allow) {
  require_tools();
  int st;
  char *out = run(TSC " -p clients/ts/tsconfig.test.json --noEmit", &st);
  ck_assert_msg(st == 0,
                "tsc on clients/ts/test exited %d (an unused @ts-expect-error is a call that should not "
                "compile but did):\n%s",
                st, out);
  free(out);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tsclient");
  TCase *tc = tcase_create("compile");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, schema_in_step_with_openapi);
  tcase_add_test(tc, client_compiles_for_browsers);
  tcase_add_test(tc, types_refuse_what_the_document_does_not_allow);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
