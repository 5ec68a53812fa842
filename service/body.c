/* The one JSON body reader (service/body.h). */
#include "service/body.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "service/request.h"

/* Writes the JSON path of a member into out: "<prefix>.<name>", or "<name>" at the root. */
static void member_path(char *out, size_t len, const char *prefix, const char *name) {
  if (*prefix)
    snprintf(out, len, "%s.%s", prefix, name);
  else
    snprintf(out, len, "%s", name);
}

static void problem(json_t *errors, const char *field, const char *code, const char *message) {
  json_array_append_new(errors, svc_field_error(field, code, message));
}

static void set_flag(void *base, size_t flag) {
  if (flag) *(bool *)((char *)base + flag - 1) = true;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_value(json_t *v, const struct svc_body_field *f, void *base, const char *path, json_t *errors);

/* Reads an ARRAY or MAP into its elements; returns false after appending problems. */
static bool read_elements(json_t *v, const struct svc_body_field *f, void *base, const char *path, json_t *errors) {
  bool map = f->type == SVC_BODY_MAP;
  size_t n = map ? json_object_size(v) : json_array_size(v);
  if ((long long)n < f->lo || (long long)n > f->hi) { /* hi is the destination's capacity */
    char msg[96];
    snprintf(msg, sizeof msg, "must hold %lld to %lld %s", f->lo, f->hi, map ? "members" : "items");
    problem(errors, path, "out_of_range", msg);
    return false;
  }
  char *elems = (char *)base + f->offset;
  *(size_t *)((char *)base + f->count_offset) = n;
  bool scalar = f->nsub == 1 && !f->sub[0].name;
  bool ok = true;
  char epath[256];
  size_t i = 0;
  const char *key;
  json_t *e;
  void *iter = map ? json_object_iter(v) : NULL;
  for (i = 0; i < n; i++) {
    char *elem = elems + i * f->elem_size;
    memset(elem, 0, f->elem_size);
    if (map) {
      key = json_object_iter_key(iter);
      e = json_object_iter_value(iter);
      iter = json_object_iter_next(v, iter);
      *(const char **)(elem + f->key_offset) = key;
      snprintf(epath, sizeof epath, "%s.%s", path, key);
    } else {
      e = json_array_get(v, i);
      snprintf(epath, sizeof epath, "%s[%zu]", path, i);
    }
    if (scalar) {
      if (json_is_null(e)) {
        problem(errors, epath, "required", "is required");
        ok = false;
      } else {
        ok &= read_value(e, &f->sub[0], elem, epath, errors);
      }
    } else if (!json_is_object(e)) {
      problem(errors, epath, "wrong_type", "must be an object");
      ok = false;
    } else {
      ok &= svc_body_read(e, f->sub, f->nsub, elem, epath, errors);
    }
  }
  return ok;
}

/* Reads the non-null value v of field f into base; returns false after appending a problem. */
static bool read_value(json_t *v, const struct svc_body_field *f, void *base, const char *path, json_t *errors) {
  void *dest = (char *)base + f->offset;
  char msg[160];
  switch (f->type) {
  case SVC_BODY_STRING: {
    if (!json_is_string(v)) break;
    size_t len = json_string_length(v);
    if ((long long)len < f->lo || (f->hi && (long long)len > f->hi)) {
      snprintf(msg, sizeof msg, "must be %lld to %lld characters", f->lo, f->hi);
      problem(errors, path, "out_of_range", msg);
      return false;
    }
    *(const char **)dest = json_string_value(v);
    return true;
  }
  case SVC_BODY_BOOL:
    if (!json_is_boolean(v)) break;
    *(bool *)dest = json_is_true(v);
    return true;
  case SVC_BODY_INT: {
    if (!json_is_integer(v)) break;
    long long x = json_integer_value(v);
    if (x < f->lo || x > f->hi) {
      snprintf(msg, sizeof msg, "must be from %lld to %lld", f->lo, f->hi);
      problem(errors, path, "out_of_range", msg);
      return false;
    }
    *(long long *)dest = x;
    return true;
  }
  case SVC_BODY_ADDRESS: {
    if (!json_is_string(v)) break;
    const char *s = json_string_value(v);
    char *lower = dest;
    bool ok = json_string_length(v) == 42 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    for (int i = 0; ok && i < 40; i++) {
      int h = hexval(s[2 + i]);
      ok = h >= 0;
      if (ok) lower[2 + i] = "0123456789abcdef"[h];
    }
    if (!ok) {
      lower[0] = 0;
      problem(errors, path, "invalid_address", "must be 0x followed by 40 hex digits");
      return false;
    }
    lower[0] = '0';
    lower[1] = 'x';
    lower[42] = 0;
    return true;
  }
  case SVC_BODY_U256: {
    if (!json_is_string(v)) break;
    const char *s = json_string_value(v);
    if (f->word && strcmp(s, f->word) == 0) {
      set_flag(base, f->word_flag);
      return true;
    }
    size_t len = json_string_length(v);
    risk_err e = u256_from_dec((u256 *)dest, s, len);
    if (e != RISK_OK && len > 0 && strspn(s, "0123456789") == len) e = RISK_OVERFLOW; /* too many digits */
    switch (e) {
    case RISK_OK: return true;
    case RISK_OVERFLOW: problem(errors, path, "out_of_range", "must be at most 2^256-1"); return false;
    default:
      snprintf(msg, sizeof msg, "must be a string of decimal digits%s%s%s", f->word ? " or \"" : "",
               f->word ? f->word : "", f->word ? "\"" : "");
      problem(errors, path, "not_an_integer", msg);
      return false;
    }
  }
  case SVC_BODY_ENUM: {
    if (!json_is_string(v)) break;
    const char *s = json_string_value(v);
    for (int i = 0; f->names[i]; i++)
      if (strcmp(s, f->names[i]) == 0) {
        *(int *)dest = i;
        return true;
      }
    size_t at = (size_t)snprintf(msg, sizeof msg, "must be one of");
    for (int i = 0; f->names[i] && at < sizeof msg; i++)
      at += (size_t)snprintf(msg + at, sizeof msg - at, "%s %s", i ? "," : "", f->names[i]);
    problem(errors, path, "unknown_value", msg);
    return false;
  }
  case SVC_BODY_OBJECT:
    if (!json_is_object(v)) break;
    return svc_body_read(v, f->sub, f->nsub, dest, path, errors);
  case SVC_BODY_ARRAY:
    if (!json_is_array(v)) break;
    return read_elements(v, f, base, path, errors);
  case SVC_BODY_MAP:
    if (!json_is_object(v)) break;
    return read_elements(v, f, base, path, errors);
  }
  static const char *const expected[] = {
      [SVC_BODY_STRING] = "a string",          [SVC_BODY_BOOL] = "a boolean",
      [SVC_BODY_INT] = "an integer",           [SVC_BODY_ADDRESS] = "an address string",
      [SVC_BODY_U256] = "an integer string",   [SVC_BODY_ENUM] = "a string",
      [SVC_BODY_OBJECT] = "an object",         [SVC_BODY_ARRAY] = "an array",
      [SVC_BODY_MAP] = "an object",
  };
  snprintf(msg, sizeof msg, "must be %s", expected[f->type]);
  problem(errors, path, "wrong_type", msg);
  return false;
}

bool svc_body_read(json_t *obj, const struct svc_body_field *spec, size_t n, void *out, const char *prefix,
                   json_t *errors) {
  char path[256];
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(obj, spec[i].name);
    if (!v || json_is_null(v)) {
      if (spec[i].required) {
        member_path(path, sizeof path, prefix, spec[i].name);
        problem(errors, path, "required", "is required");
        ok = false;
      }
      continue;
    }
    member_path(path, sizeof path, prefix, spec[i].name);
    if (read_value(v, &spec[i], out, path, errors))
      set_flag(out, spec[i].given);
    else
      ok = false;
  }
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = strcmp(spec[i].name, key) == 0;
    if (!known) {
      member_path(path, sizeof path, prefix, key);
      problem(errors, path, "unknown_field", "is not a known field");
      ok = false;
    }
  }
  return ok;
}

/* Parses text as one JSON object (duplicate keys refused); returns it, or NULL with *err and
 * detail set. */
static json_t *load(const char *text, size_t len, enum svc_error *err, char *detail, size_t detail_len) {
  json_error_t jerr;
  json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    *err = json_error_code(&jerr) == json_error_duplicate_key ? SVC_ERR_duplicate_json_key : SVC_ERR_malformed_json;
    snprintf(detail, detail_len, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    return NULL;
  }
  *err = SVC_ERR_validation_failed;
  if (!json_is_object(root)) {
    json_decref(root);
    snprintf(detail, detail_len, "the body must be a json object");
    return NULL;
  }
  return root;
}

json_t *svc_body_decode(const char *text, size_t len, const struct svc_body_field *spec, size_t n, void *out,
                        json_t *errors, enum svc_error *err, char *detail, size_t detail_len) {
  json_t *root = load(text, len, err, detail, detail_len);
  if (root && !svc_body_read(root, spec, n, out, "", errors)) {
    json_decref(root);
    snprintf(detail, detail_len, "%zu field(s) failed validation", json_array_size(errors));
    return NULL;
  }
  return root;
}

json_t *svc_body_parse(struct svc_request *req, const struct svc_body_field *spec, size_t n, void *out) {
  json_t *errors = json_array();
  enum svc_error err;
  char detail[256];
  json_t *root = svc_body_decode(req->body, req->body_len, spec, n, out, errors, &err, detail, sizeof detail);
  if (root) {
    json_decref(errors);
    return root;
  }
  if (json_array_size(errors))
    svc_reply_problem_fields(req, err, errors, "%s", detail);
  else {
    json_decref(errors);
    svc_reply_problem(req, err, "%s", detail);
  }
  return NULL;
}

json_t *svc_body_parse_collect(struct svc_request *req, const struct svc_body_field *spec, size_t n, void *out,
                               json_t *errors) {
  enum svc_error err;
  char detail[256];
  json_t *root = load(req->body, req->body_len, &err, detail, sizeof detail);
  if (!root) {
    svc_reply_problem(req, err, "%s", detail);
    return NULL;
  }
  svc_body_read(root, spec, n, out, "", errors);
  return root;
}

enum svc_handler_result svc_reply_validation(struct svc_request *req, json_t *errors) {
  return svc_reply_problem_fields(req, SVC_ERR_validation_failed, errors, "%zu field(s) failed validation",
                                  json_array_size(errors));
}
