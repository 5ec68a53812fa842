/* Every JSON body reader: the first byte picks one of the specs the handlers read bodies with
 * (handlers/bodies.h, PATCH's derived spec included), the rest is the body. The reader's two
 * paths (the single-pass scanner and jansson) and the default path are each run on their own
 * buffer and must agree as tests/check_unit_body.c requires; svc_body_read on jansson's tree,
 * which svc_body_parse_collect uses, runs too and may leave partial fillings behind. */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "handlers/bodies.h"
#include "service/body_path.h"

/* Reads every string a filling points to (ASan sees a dangling one) and compares a's with b's by
 * content, then clears those pointers in both so the rest compares byte for byte. b may be NULL:
 * only a is read and cleared. */
static void strings_compared(const struct svc_body_field *fields, size_t n, char *a, char *b) {
  for (size_t i = 0; i < n; i++) {
    const struct svc_body_field *f = &fields[i];
    size_t at[2] = {0, 0};
    unsigned nat = 0;
    if (f->type == SVC_BODY_STRING) at[nat++] = f->offset + 1;
    if (f->type == SVC_BODY_U256 && f->text) at[nat++] = f->text;
    for (unsigned k = 0; k < nat; k++) {
      const char **sa = (const char **)(a + at[k] - 1), **sb = b ? (const char **)(b + at[k] - 1) : NULL;
      if (*sa) (void)strlen(*sa);
      if (sb) {
        FUZZ_CHECK(!*sa == !*sb && (!*sa || strcmp(*sa, *sb) == 0), "%s differs", f->name ? f->name : "(element)");
        *sb = NULL;
      }
      *sa = NULL;
    }
    if (f->type == SVC_BODY_OBJECT) strings_compared(f->sub, f->nsub, a + f->offset, b ? b + f->offset : NULL);
    if (f->type == SVC_BODY_ARRAY || f->type == SVC_BODY_MAP) {
      size_t count = *(size_t *)(a + f->count_offset);
      FUZZ_CHECK(count <= (size_t)f->hi, "%s: %zu elements, room for %lld", f->name, count, f->hi);
      if (b) FUZZ_CHECK(count == *(size_t *)(b + f->count_offset), "%s count differs", f->name);
      for (size_t e = 0; e < count; e++) {
        char *ea = a + f->offset + e * f->elem_size, *eb = b ? b + f->offset + e * f->elem_size : NULL;
        if (f->type == SVC_BODY_MAP) {
          const char **ka = (const char **)(ea + f->key_offset), **kb = eb ? (const char **)(eb + f->key_offset) : NULL;
          FUZZ_CHECK(*ka != NULL, "%s: key %zu missing", f->name, e);
          (void)strlen(*ka);
          if (kb) {
            FUZZ_CHECK(*kb && strcmp(*ka, *kb) == 0, "%s key %zu differs", f->name, e);
            *kb = NULL;
          }
          *ka = NULL;
        }
        strings_compared(f->sub, f->nsub, ea, eb);
      }
    }
  }
}

int fuzz_body(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static struct svc_body_field patch[64];
  /* the first byte picks a spec, counted from '0' so the kept corpus stays readable ('0' is the
   * list's first entry); one more choice than the list: the PATCH spec, derived from the create
   * spec */
  const size_t pick = (uint8_t)(data[0] - '0') % (handler_body_specs_n + 1);
  const struct handler_body_spec *b = pick < handler_body_specs_n ? handler_body_specs[pick] : NULL;
  const struct svc_body_field *spec;
  size_t n, obj;
  if (b) {
    spec = b->spec;
    n = b->n;
    obj = b->size;
  } else {
    FUZZ_CHECK(handler_body_partner_position_create.n <= 64, "patch spec room");
    n = handler_partner_patch_spec(patch);
    spec = patch;
    obj = handler_body_partner_position_create.size;
  }
  const char *text = (const char *)data + 1;
  size_t len = size - 1;

  char *fast = calloc(1, obj), *slow = calloc(1, obj), *dflt = calloc(1, obj), *coll = calloc(1, obj),
       *zero = calloc(1, obj);
  json_t *e_fast = json_array(), *e_slow = json_array(), *e_dflt = json_array(), *e_coll = json_array();
  enum svc_error err_fast = SVC_ERR_internal_error, err_slow = SVC_ERR_internal_error,
                 err_dflt = SVC_ERR_internal_error;
  char detail[256];
  struct svc_body *bf =
      svc_body_decode_path(SVC_BODY_PATH_FAST_ONLY, text, len, spec, n, fast, e_fast, &err_fast, detail, sizeof detail);
  struct svc_body *bs =
      svc_body_decode_path(SVC_BODY_PATH_SLOW_ONLY, text, len, spec, n, slow, e_slow, &err_slow, detail, sizeof detail);
  struct svc_body *bd = svc_body_decode(text, len, spec, n, dflt, e_dflt, &err_dflt, detail, sizeof detail);
  FUZZ_CHECK(!!bd == !!bs, "the default path %s what jansson %s", bd ? "accepts" : "refuses",
             bs ? "accepts" : "refuses");
  FUZZ_CHECK(err_dflt == err_slow && json_equal(e_dflt, e_slow), "the default path's errors differ");
  FUZZ_CHECK(bs || err_slow != SVC_ERR_internal_error, "refused without a reason");
  FUZZ_CHECK(!bs || json_array_size(e_slow) == 0, "accepted with field errors");
  if (bf) {
    FUZZ_CHECK(bs != NULL, "the scanner accepts what jansson refuses");
    FUZZ_CHECK(json_array_size(e_fast) == 0, "the scanner reported errors");
    FUZZ_CHECK(svc_body_members(bf) == svc_body_members(bs), "member counts differ");
    char *slow2 = malloc(obj);
    memcpy(slow2, slow, obj);
    strings_compared(spec, n, fast, slow2);
    FUZZ_CHECK(memcmp(fast, slow2, obj) == 0, "the scanner filled other bytes than jansson");
    free(slow2);
  } else {
    FUZZ_CHECK(memcmp(fast, zero, obj) == 0, "a declined scan left writes behind");
  }
  if (bd) {
    strings_compared(spec, n, dflt, slow);
    FUZZ_CHECK(memcmp(dflt, slow, obj) == 0, "the default path filled other bytes than jansson");
  }
  /* svc_body_parse_collect's reading: errors kept, what was valid filled */
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
  if (json_is_object(root)) {
    bool ok = svc_body_read(root, spec, n, coll, "", e_coll);
    FUZZ_CHECK(ok == (json_array_size(e_coll) == 0), "svc_body_read's result and errors disagree");
    strings_compared(spec, n, coll, NULL);
  }
  json_decref(root);
  svc_body_free(bf);
  svc_body_free(bs);
  svc_body_free(bd);
  json_decref(e_fast);
  json_decref(e_slow);
  json_decref(e_dflt);
  json_decref(e_coll);
  free(fast);
  free(slow);
  free(dflt);
  free(coll);
  free(zero);
  return 0;
}
