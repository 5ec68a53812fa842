/* ctest-label: node */
/* Keeps openapi/openapi.yaml and the code in step (STYLE rules 1 and 4):
 * - every row of svc_routes is an operation in the document, and every operation is a row
 *   (HEAD and OPTIONS are implicit: the service answers them for every path, so neither side
 *   lists them);
 * - the Problem `code` enum is exactly the set of codes in service/errors.def;
 * - every error example carries the status, title and type the error table gives its code;
 * - every response of every operation declares X-Request-Id;
 * - Redocly's lint (recommended-strict, see redocly.yaml) passes.
 * The YAML is read through tests/openapi_to_json.mjs (node + js-yaml). A machine without node
 * or node_modules fails here, loudly: the contract is not checked there. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "service/errors.h"
#include "service/router.h"

#define OPENAPI_PATH "openapi/openapi.yaml"
#define PROBLEM_TYPE_PREFIX "https://sparkd.dev/problems/"

/* The methods an OpenAPI path item may hold, and the route-table bit for each (0 = implicit). */
static const struct {
  const char *name;
  unsigned bit;
} doc_methods[] = {
    {"get", SVC_GET},       {"post", SVC_POST}, {"put", SVC_PUT}, {"patch", SVC_PATCH},
    {"delete", SVC_DELETE}, {"head", 0},        {"options", 0},   {"trace", 0},
};

/* Runs cmd with `sh -c` in the source tree; returns its stdout (malloc'd) and sets *status to
 * its exit code (-1 when it did not exit normally). */
static char *run(const char *cmd, int *status) {
  char full[4096];
  snprintf(full, sizeof full, "cd '%s' && %s", SPARKD_SOURCE_DIR, cmd);
  FILE *p = popen(full, "r");
  ck_assert_msg(p != NULL, "popen failed for: %s", cmd);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  ck_assert_ptr_nonnull(buf);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (cap - len < 4096) {
      cap *= 2;
      buf = realloc(buf, cap);
      ck_assert_ptr_nonnull(buf);
    }
  }
  buf[len] = '\0';
  int ws = pclose(p);
  *status = (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1;
  return buf;
}

/* Fails the test with a clear message unless node and the npm packages are there. */
static void require_node_tools(void) {
  int st;
  free(run("command -v node >/dev/null 2>&1", &st));
  ck_assert_msg(st == 0, "node is not installed: the OpenAPI contract cannot be checked "
                         "(install nodejs and run `npm install` at the repository root)");
  const char *need[] = {"node_modules/js-yaml/package.json", "node_modules/@redocly/cli/package.json"};
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", SPARKD_SOURCE_DIR, need[i]);
    ck_assert_msg(access(path, R_OK) == 0, "%s is missing: run `npm install` at the repository root", path);
  }
}

/* Returns the document as JSON (a new reference). */
static json_t *load_doc(void) {
  require_node_tools();
  int st;
  char *out = run("timeout 60 node tests/openapi_to_json.mjs " OPENAPI_PATH, &st);
  ck_assert_msg(st == 0, "tests/openapi_to_json.mjs exited %d (its stderr is above)", st);
  json_error_t err;
  json_t *doc = json_loads(out, 0, &err);
  free(out);
  ck_assert_msg(doc != NULL, "openapi_to_json output is not JSON: %s", err.text);
  ck_assert_msg(json_is_object(json_object_get(doc, "paths")), "the document has no paths object");
  return doc;
}

/* Returns the object a local "$ref" ("#/components/...") names, or v itself (borrowed). */
static json_t *deref(json_t *doc, json_t *v) {
  for (int depth = 0; depth < 8 && json_is_object(v); depth++) {
    const char *ref = json_string_value(json_object_get(v, "$ref"));
    if (!ref) return v;
    ck_assert_msg(strncmp(ref, "#/", 2) == 0, "only local $ref is supported: %s", ref);
    json_t *cur = doc;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", ref + 2);
    for (char *save = NULL, *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
      cur = json_object_get(cur, tok); /* our component names need no ~0/~1 unescaping */
      ck_assert_msg(cur != NULL, "dangling $ref %s", ref);
    }
    v = cur;
  }
  return v;
}

/* Returns true when some route row has exactly this path template and method bit. */
static bool route_exists(const char *path, unsigned bit) {
  for (size_t i = 0; i < svc_routes_count; i++)
    if ((svc_routes[i].method & bit) && strcmp(svc_routes[i].path, path) == 0) return true;
  return false;
}

/* Returns the lowercase OpenAPI name of a route-table method bit. */
static const char *doc_method_name(unsigned bit) {
  for (size_t i = 0; i < sizeof doc_methods / sizeof doc_methods[0]; i++)
    if (doc_methods[i].bit == bit) return doc_methods[i].name;
  return NULL;
}

START_TEST(every_route_is_documented) {
  json_t *doc = load_doc();
  json_t *paths = json_object_get(doc, "paths");
  ck_assert_uint_gt(svc_routes_count, 0);
  for (size_t i = 0; i < svc_routes_count; i++) {
    const struct svc_route *r = &svc_routes[i];
    unsigned bits = (unsigned)r->method;
    ck_assert_msg(bits != 0, "route %s has no method", r->path);
    for (unsigned bit = 1; bit <= SVC_DELETE; bit <<= 1) {
      if (!(bits & bit)) continue;
      const char *m = doc_method_name(bit);
      ck_assert_msg(m != NULL, "route %s: method bit %u has no OpenAPI name", r->path, bit);
      json_t *item = json_object_get(paths, r->path);
      ck_assert_msg(json_is_object(item), "route %s %s is not in " OPENAPI_PATH " (no such path)", svc_method_name(bit),
                    r->path);
      ck_assert_msg(json_is_object(json_object_get(item, m)),
                    "route %s %s is not in " OPENAPI_PATH " (the path has no %s operation)", svc_method_name(bit),
                    r->path, m);
    }
  }
  json_decref(doc);
}
END_TEST

START_TEST(every_operation_is_a_route) {
  json_t *doc = load_doc();
  const char *path;
  json_t *item;
  size_t ops = 0;
  json_object_foreach(json_object_get(doc, "paths"), path, item) {
    for (size_t i = 0; i < sizeof doc_methods / sizeof doc_methods[0]; i++) {
      if (!json_object_get(item, doc_methods[i].name)) continue;
      ck_assert_msg(doc_methods[i].bit != 0,
                    "%s %s is listed in " OPENAPI_PATH ", but HEAD/OPTIONS are implicit and TRACE "
                    "is never served: remove it",
                    doc_methods[i].name, path);
      ck_assert_msg(route_exists(path, doc_methods[i].bit),
                    "%s %s is in " OPENAPI_PATH " but not in svc_routes (service/router.c)", doc_methods[i].name, path);
      ops++;
    }
  }
  ck_assert_msg(ops > 0, "the document lists no operation");
  json_decref(doc);
}
END_TEST

START_TEST(problem_code_enum_is_the_error_table) {
  json_t *doc = load_doc();
  json_t *problem = json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Problem");
  ck_assert_msg(json_is_object(problem), "components.schemas.Problem is missing");
  json_t *code = deref(doc, json_object_get(json_object_get(problem, "properties"), "code"));
  json_t *en = json_object_get(code, "enum");
  ck_assert_msg(json_is_array(en), "Problem.code has no enum");

  /* document -> table, no duplicates */
  for (size_t i = 0; i < json_array_size(en); i++) {
    const char *c = json_string_value(json_array_get(en, i));
    ck_assert_msg(c != NULL, "Problem.code enum entry %zu is not a string", i);
    for (size_t j = 0; j < i; j++)
      ck_assert_msg(strcmp(c, json_string_value(json_array_get(en, j))) != 0, "Problem.code enum lists %s twice", c);
    bool found = false;
    for (int e = 0; e < SVC_ERR__COUNT && !found; e++)
      found = strcmp(svc_error_code(e), c) == 0;
    ck_assert_msg(found, "Problem.code enum lists %s, which is not in service/errors.def", c);
  }
  /* table -> document */
  for (int e = 0; e < SVC_ERR__COUNT; e++) {
    bool found = false;
    for (size_t i = 0; i < json_array_size(en) && !found; i++)
      found = strcmp(svc_error_code(e), json_string_value(json_array_get(en, i))) == 0;
    ck_assert_msg(found, "service/errors.def has %s, which the Problem.code enum lacks", svc_error_code(e));
  }
  ck_assert_uint_eq(json_array_size(en), (size_t)SVC_ERR__COUNT);

  json_t *req = json_object_get(problem, "required");
  const char *must[] = {"type", "title", "status", "detail", "code", "request_id"};
  for (size_t k = 0; k < sizeof must / sizeof must[0]; k++) {
    bool found = false;
    for (size_t i = 0; i < json_array_size(req) && !found; i++)
      found = strcmp(must[k], json_string_value(json_array_get(req, i))) == 0;
    ck_assert_msg(found, "Problem does not require %s", must[k]);
  }
  json_decref(doc);
}
END_TEST

/* Checks one problem+json example against the error table for a response of status `status`. */
static void check_problem_example(json_t *ex, long status, const char *where) {
  const char *code = json_string_value(json_object_get(ex, "code"));
  ck_assert_msg(code != NULL, "%s: example has no code", where);
  int e = 0;
  while (e < SVC_ERR__COUNT && strcmp(svc_error_code(e), code) != 0)
    e++;
  ck_assert_msg(e < SVC_ERR__COUNT, "%s: example code %s is not in service/errors.def", where, code);
  ck_assert_msg(svc_error_status(e) == status, "%s: %s is a %u in service/errors.def, documented as %ld", where, code,
                svc_error_status(e), status);
  ck_assert_msg(json_integer_value(json_object_get(ex, "status")) == status, "%s: example status differs", where);
  const char *title = json_string_value(json_object_get(ex, "title"));
  ck_assert_msg(title && strcmp(title, svc_error_title(e)) == 0, "%s: example title for %s is not \"%s\"", where, code,
                svc_error_title(e));
  char type[256];
  snprintf(type, sizeof type, PROBLEM_TYPE_PREFIX "%s", code);
  const char *t = json_string_value(json_object_get(ex, "type"));
  ck_assert_msg(t && strcmp(t, type) == 0, "%s: example type is not %s", where, type);
}

START_TEST(responses_carry_request_id_and_true_examples) {
  json_t *doc = load_doc();
  const char *path, *method, *status;
  json_t *item, *op, *resp;
  json_object_foreach(json_object_get(doc, "paths"), path, item) {
    json_object_foreach(item, method, op) {
      json_t *responses = json_object_get(op, "responses");
      if (!json_is_object(responses)) continue; /* not an operation (summary, parameters, ...) */
      json_object_foreach(responses, status, resp) {
        char where[512];
        snprintf(where, sizeof where, "%s %s %s", method, path, status);
        resp = deref(doc, resp);
        json_t *hdrs = json_object_get(resp, "headers");
        ck_assert_msg(json_object_get(hdrs, "X-Request-Id") != NULL, "%s: no X-Request-Id header", where);
        long st = strtol(status, NULL, 10);
        if (st < 400) continue;
        json_t *media = json_object_get(json_object_get(resp, "content"), "application/problem+json");
        ck_assert_msg(json_is_object(media), "%s: an error response must be application/problem+json", where);
        size_t nex = 0;
        if (json_object_get(media, "example")) {
          check_problem_example(json_object_get(media, "example"), st, where);
          nex++;
        }
        const char *name;
        json_t *ex;
        json_object_foreach(json_object_get(media, "examples"), name, ex) {
          check_problem_example(json_object_get(deref(doc, ex), "value"), st, where);
          nex++;
        }
        ck_assert_msg(nex > 0, "%s: an error response needs an example", where);
        if (st == 405) ck_assert_msg(json_object_get(hdrs, "Allow") != NULL, "%s: 405 must declare Allow", where);
      }
    }
  }
  json_decref(doc);
}
END_TEST

START_TEST(redocly_lint_passes) {
  require_node_tools();
  int st;
  char *out = run("REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1 "
                  "timeout 300 npx --no-install @redocly/cli lint " OPENAPI_PATH " 2>&1",
                  &st);
  if (st != 0) fprintf(stderr, "%s\n", out);
  ck_assert_msg(st == 0, "npx @redocly/cli lint " OPENAPI_PATH " exited %d (output above)", st);
  free(out);
}
END_TEST

int main(void) {
  Suite *s = suite_create("openapi");
  TCase *tc = tcase_create("contract");
  tcase_set_timeout(tc, 360);
  tcase_add_test(tc, every_route_is_documented);
  tcase_add_test(tc, every_operation_is_a_route);
  tcase_add_test(tc, problem_code_enum_is_the_error_table);
  tcase_add_test(tc, responses_carry_request_id_and_true_examples);
  tcase_add_test(tc, redocly_lint_passes);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
