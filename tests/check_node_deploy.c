/* ctest-label: node */
/* The deployment files, where neither Kubernetes nor docker runs:
 * - deploy/k8s/ passes tests/k8s_validate.mjs (the Kubernetes schemas of npm kubernetes-models,
 *   and the checks across documents), which refuses each of a set of broken copies: a wrong type,
 *   a missing required field, broken YAML, a probe on the wrong path, a Service selecting nothing,
 *   a misspelt setting, a reference to a missing Secret key, two Deployments running the workers;
 * - docker-compose.yml (primary, streaming replica, sparkd reading from the replica) passes
 *   tests/compose_check.mjs, which refuses broken copies too, and its scripts parse (bash -n). */
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
struct breakage {
  const char *file, *from, *to, *want;
};
static const struct breakage broken_k8s[] = {
    {"api-deployment.yaml", "replicas: 3", "replicas: three", "spec/replicas must be integer"},
    {"hpa.yaml", "maxReplicas: 20", "maxReplica: 20", "must have required property maxReplicas"},
    {"service.yaml", "kind: Service", "kind: [Service", "service.yaml: not YAML"},
    {"api-deployment.yaml", "path: /readyz", "path: /ready", "readinessProbe asks /ready, not /readyz"},
    {"service.yaml", "component: api\n  ports:", "component: apis\n  ports:", "selects no Deployment"},
    {"configmap.yaml", "SPARKD_LOG_LEVEL:", "SPARKD_LOG_LEVL:", "SPARKD_LOG_LEVL is not a setting sparkd reads"},
    {"migrate-job.yaml", "key: SPARKD_DATABASE_URL", "key: SPARKD_DB_URL", "has no key SPARKD_DB_URL"},
    {"api-deployment.yaml", "value: \"off\"", "value: lease", "2 Deployments run the workers"},
};
static const struct breakage broken_compose[] = {
    {"docker-compose.yml", "@postgres-replica:5432", "@postgres:5432", "reads and writes go to the same service"},
    {"docker-compose.yml", "PRIMARY_HOST: postgres", "PRIMARY_HOST: db", "copies db, not the primary postgres"},
    {"docker-compose.yml", "- pgdata-replica:", "- pgdata-standby:", "volume pgdata-standby is not declared"},
    {"docker-compose.yml", "SPARKD_MIGRATE:", "SPARKD_MIGRATION:", "SPARKD_MIGRATION is not a setting"},
    {"docker-compose.yml", "services:", "services: [", "not YAML"},
    {"deploy/compose/replica-start.sh", " -R -X", " -X", "is not made by pg_basebackup -R"},
};

/* Copies the files the check reads into a new temporary directory (copy: a command whose every
 * %s is that directory), breaks one as b says, runs check (its %s: the directory) on the copy and
 * asserts that it fails naming b->want. */
static void refused(const char *copy, const char *check, const struct breakage *b) {
  char tmp[] = "/tmp/sparkd-deploy-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmp));
  char cmd[4096], path[1024];
  int st;
  snprintf(cmd, sizeof cmd, copy, tmp, tmp, tmp);
  free(run(cmd, &st));
  ck_assert_int_eq(st, 0);
  snprintf(path, sizeof path, "%s/%s", tmp, b->file);
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char text[1 << 16], out[(1 << 16) + 256];
  size_t len = fread(text, 1, sizeof text - 1, f);
  text[len] = 0;
  fclose(f);
  char *at = strstr(text, b->from);
  ck_assert_msg(at != NULL, "%s holds no \"%s\": the test needs updating", b->file, b->from);
  snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, b->to, at + strlen(b->from));
  f = fopen(path, "wb");
  fputs(out, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, check, tmp);
  char *res = run(cmd, &st);
  ck_assert_msg(st == 1, "a broken %s (%s) passed (exit %d):\n%s", b->file, b->to, st, res);
  ck_assert_msg(strstr(res, b->want) != NULL, "want \"%s\" in:\n%s", b->want, res);
  free(res);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  free(run(cmd, &st));
}

START_TEST(broken_manifest_refused) {
  refused("cp deploy/k8s/*.yaml '%s'/", "timeout 120 node tests/k8s_validate.mjs '%s'", &broken_k8s[_i]);
}
END_TEST

START_TEST(compose_consistent) {
  int st;
  char *out = run("timeout 60 node tests/compose_check.mjs docker-compose.yml", &st);
  ck_assert_msg(st == 0, "compose_check exited %d:\n%s", st, out);
  free(out);
  out = run("bash -n deploy/compose/primary-init.sh && bash -n deploy/compose/replica-start.sh", &st);
  ck_assert_msg(st == 0, "%s", out);
  free(out);
}
END_TEST

START_TEST(broken_compose_refused) {
  refused("mkdir -p '%s/deploy' && cp -p docker-compose.yml '%s/' && cp -rp deploy/compose '%s/deploy/'",
          "timeout 60 node tests/compose_check.mjs '%s/docker-compose.yml'", &broken_compose[_i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("deploy");
  TCase *tc = tcase_create("validate");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, manifests_valid);
  tcase_add_loop_test(tc, broken_manifest_refused, 0, sizeof broken_k8s / sizeof broken_k8s[0]);
  tcase_add_test(tc, compose_consistent);
  tcase_add_loop_test(tc, broken_compose_refused, 0, sizeof broken_compose / sizeof broken_compose[0]);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
