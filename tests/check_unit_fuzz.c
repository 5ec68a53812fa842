/* ctest-label: unit */
/* The fuzz targets (fuzz/fuzz.h) run in the ordinary build on the kept corpus (fuzz/corpus/<target>/)
 * and on every input a fuzzer ever crashed (fuzz/crashes/<target>/): each past crash stays a test
 * here, in the plain and in the sanitizer build. And every route that reads a JSON body has its
 * spec in handlers/bodies.h, so fuzz/body.c reaches it. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "handlers/bodies.h"
#include "service/router.h"

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Feeds every regular file of SPARKD_SOURCE_DIR/fuzz/<kind>/<target>/ to fn; returns how many. */
static unsigned replay(const char *kind, const char *target, fuzz_fn fn) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/fuzz/%s/%s", SPARKD_SOURCE_DIR, kind, target);
  DIR *d = opendir(dir);
  if (!d) return 0;
  unsigned n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    fprintf(stderr, "%s/%s/%s\n", kind, target, e->d_name); /* the last one named is the one that failed */
    ck_assert_int_eq(fn(buf, (size_t)len), 0);
    free(buf);
    n++;
  }
  closedir(d);
  return n;
}

static const struct {
  const char *name;
  fuzz_fn fn;
} targets[] = {{"head", fuzz_head},
               {"body", fuzz_body},
               {"snapshot", fuzz_snapshot},
               {"u256", fuzz_u256},
               {"margin_params", fuzz_margin_params}};

START_TEST(corpus_replays) {
  unsigned n = replay("corpus", targets[_i].name, targets[_i].fn);
  ck_assert_msg(n > 0, "fuzz/corpus/%s is empty", targets[_i].name);
}
END_TEST

START_TEST(past_crashes_replay) { replay("crashes", targets[_i].name, targets[_i].fn); }
END_TEST

/* Every route with a body limit, except the snapshot import (fuzz/snapshot.c) and the margin
 * parameters (fuzz/margin_params.c), reads its body through a spec listed in handlers/bodies.h. */
START_TEST(every_body_route_is_fuzzed) {
  const struct handler_body_spec *const *bodies = handler_body_specs;
  for (size_t i = 0; i < svc_routes_count; i++) {
    const struct svc_route *r = &svc_routes[i];
    /* the snapshot import has its own target (fuzz/snapshot.c); the margin parameters are one nested
     * document read by partner_margin_config_parse, which no body spec describes: fuzz/margin_params.c */
    if (r->body_limit == 0 || strcmp(r->path, "/v1/admin/snapshots") == 0 ||
        strcmp(r->path, "/v1/admin/margin-params") == 0)
      continue;
    const char *m = svc_method_name(r->method);
    bool found = strcmp(m, "PATCH") == 0 && strcmp(r->path, "/v1/partner/positions/{id}") == 0; /* derived */
    for (size_t k = 0; k < handler_body_specs_n; k++)
      found = found || (strcmp(bodies[k]->method, m) == 0 && strcmp(bodies[k]->path, r->path) == 0);
    ck_assert_msg(found, "%s %s reads a body but has no spec in handlers/bodies.h", m, r->path);
  }
  for (size_t k = 0; k < handler_body_specs_n; k++) {
    struct svc_route_match match;
    char path[256];
    size_t o = 0;
    for (const char *t = bodies[k]->path; *t && o < sizeof path - 1; t++) {
      if (*t == '{') { /* a path parameter: any one segment */
        t = strchr(t, '}');
        path[o++] = '1';
      } else {
        path[o++] = *t;
      }
    }
    path[o] = 0;
    ck_assert_msg(svc_route_match(bodies[k]->method, path, &match), "%s %s is not a route", bodies[k]->method, path);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("fuzz");
  TCase *tc = tcase_create("replay");
  const int n = sizeof targets / sizeof targets[0];
  tcase_add_loop_test(tc, corpus_replays, 0, n);
  tcase_add_loop_test(tc, past_crashes_replay, 0, n);
  tcase_add_test(tc, every_body_route_is_fuzzed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
