/* ctest-label: node */
/* deploy/k8s/ passes tests/k8s_validate.mjs (the Kubernetes schemas of npm kubernetes-models, and
 * the checks across documents), and the validator refuses each of a set of broken copies: a wrong
 * type, a missing required field, broken YAML, a probe on the wrong path, a Service selecting
 * nothing, a misspelt setting, a reference to a missing Secret key, two Deployments running the
 * workers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs cmd with `sh -c` in the source tree, stderr with stdout; returns the output (malloc'd) and
 * sets *status to the exit code (-1 when it did not exit normally). */
static char *run(const char *cmd, int *status) {
  char full[4096];
  snprintf(full, sizeof full, "cd '%s' && %s 2>&1", SPARKD_SOURCE_DIR, cmd);
  FILE *p = popen(full, "r");
  ck_assert_msg(p != NULL, "popen failed for: %s", cmd);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
    len += n;
  buf[len] = 0;
  int ws = pclose(p);
  *status = (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1;
  return buf;
}

START_TEST(manifests_valid) {
  int st;
  char *out = run("timeout 120 node tests/k8s_validate.mjs deploy/k8s", &st);
  ck_assert_msg(st == 0, "k8s_validate exited %d:\n%s", st, out);
  ck_assert_msg(strstr(out, "valid") != NULL, "%s", out);
  free(out);
}
END_TEST

/* One broken copy: in file, the first `from` becomes `to`; the validator must fail naming `want`. */
static const struct {
  const char *file, *from, *to, *want;
} broken[] = {
    {"api-deployment.yaml", "replicas: 3", "replicas: three", "spec/replicas must be integer"},
    {"hpa.yaml", "maxReplicas: 20", "maxReplica: 20", "must have required property maxReplicas"},
    {"service.yaml", "kind: Service", "kind: [Service", "service.yaml: not YAML"},
    {"api-deployment.yaml", "path: /readyz", "path: /ready", "readinessProbe asks /ready, not /readyz"},
    {"service.yaml", "component: api\n  ports:", "component: apis\n  ports:", "selects no Deployment"},
    {"configmap.yaml", "SPARKD_LOG_LEVEL:", "SPARKD_LOG_LEVL:", "SPARKD_LOG_LEVL is not a setting sparkd reads"},
    {"migrate-job.yaml", "key: SPARKD_DATABASE_URL", "key: SPARKD_DB_URL", "has no key SPARKD_DB_URL"},
    {"api-deployment.yaml", "value: \"off\"", "value: lease", "2 Deployments run the workers"},
};

START_TEST(broken_manifest_refused) {
  char tmp[] = "/tmp/sparkd-k8s-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmp));
  char cmd[4096], path[1024];
  int st;
  snprintf(cmd, sizeof cmd, "cp deploy/k8s/*.yaml '%s'/", tmp);
  free(run(cmd, &st));
  ck_assert_int_eq(st, 0);
  snprintf(path, sizeof path, "%s/%s", tmp, broken[_i].file);
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char text[1 << 16], out[(1 << 16) + 256];
  size_t len = fread(text, 1, sizeof text - 1, f);
  text[len] = 0;
  fclose(f);
  char *at = strstr(text, broken[_i].from);
  ck_assert_msg(at != NULL, "%s holds no \"%s\": the test needs updating", broken[_i].file, broken[_i].from);
  snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, broken[_i].to, at + strlen(broken[_i].from));
  f = fopen(path, "wb");
  fputs(out, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "timeout 120 node tests/k8s_validate.mjs '%s'", tmp);
  char *res = run(cmd, &st);
  ck_assert_msg(st == 1, "a broken %s (%s) passed (exit %d):\n%s", broken[_i].file, broken[_i].to, st, res);
  ck_assert_msg(strstr(res, broken[_i].want) != NULL, "want \"%s\" in:\n%s", broken[_i].want, res);
  free(res);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  free(run(cmd, &st));
}
END_TEST

int main(void) {
  Suite *s = suite_create("k8s");
  TCase *tc = tcase_create("validate");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, manifests_valid);
  tcase_add_loop_test(tc, broken_manifest_refused, 0, sizeof broken / sizeof broken[0]);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
