/* The one JSON body reader (service/body.h). */
#include "service/body.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/body_path.h"

#include "service/request.h"
#include "util/hex.h"

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

/* ---- stores shared by both paths: what a value means is decided once ---- */

/* Stores the string s (len bytes, NUL-terminated) for a STRING, ADDRESS, U256 or ENUM field of
 * base; returns NULL, or the error code with msg (msg_len bytes) filled. */
static const char *store_string(const struct svc_body_field *f, const char *s, size_t len, void *base, char *msg,
                                size_t msg_len) {
  void *dest = (char *)base + f->offset;
  switch (f->type) {
  case SVC_BODY_STRING:
    if ((long long)len < f->lo || (f->hi && (long long)len > f->hi)) {
      snprintf(msg, msg_len, "must be %lld to %lld characters", f->lo, f->hi);
      return "out_of_range";
    }
    *(const char **)dest = s;
    return NULL;
  case SVC_BODY_ADDRESS: {
    char *lower = dest;
    bool ok = len == 42 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    for (int i = 0; ok && i < 40; i++) {
      int h = util_hexval(s[2 + i]);
      ok = h >= 0;
      if (ok) lower[2 + i] = "0123456789abcdef"[h];
    }
    if (!ok) {
      lower[0] = 0;
      snprintf(msg, msg_len, "must be 0x followed by 40 hex digits");
      return "invalid_address";
    }
    lower[0] = '0';
    lower[1] = 'x';
    lower[42] = 0;
    return NULL;
  }
  case SVC_BODY_U256: {
    if (f->text) memcpy((char *)base + f->text - 1, &s, sizeof s);
    if (f->word && strcmp(s, f->word) == 0) {
      set_flag(base, f->word_flag);
      return NULL;
    }
    risk_err e = u256_from_dec((u256 *)dest, s, len);
    if (e != RISK_OK && len > 0 && strspn(s, "0123456789") == len) e = RISK_OVERFLOW; /* too many digits */
    if (e == RISK_OK && f->bits && f->bits < 256 && u256_bits(*(u256 *)dest) > f->bits) {
      *(u256 *)dest = U256_ZERO; /* a failed field stays unset */
      e = RISK_OVERFLOW;
    }
    switch (e) {
    case RISK_OK: return NULL;
    case RISK_OVERFLOW:
      snprintf(msg, msg_len, "must be at most 2^%u-1", f->bits && f->bits < 256 ? f->bits : 256);
      return "out_of_range";
    default:
      snprintf(msg, msg_len, "must be a string of decimal digits%s%s%s", f->word ? " or \"" : "",
               f->word ? f->word : "", f->word ? "\"" : "");
      return "not_an_integer";
    }
  }
  case SVC_BODY_ENUM: {
    for (int i = 0; f->names[i]; i++)
      if (strcmp(s, f->names[i]) == 0) {
        *(int *)dest = i;
        return NULL;
      }
    size_t at = (size_t)snprintf(msg, msg_len, "must be one of");
    for (int i = 0; f->names[i] && at < msg_len; i++)
      at += (size_t)snprintf(msg + at, msg_len - at, "%s %s", i ? "," : "", f->names[i]);
    return "unknown_value";
  }
  default: snprintf(msg, msg_len, "is not a string field"); return "wrong_type";
  }
}

/* Stores x for an INT field of base; returns NULL, or the error code with msg filled. */
static const char *store_int(const struct svc_body_field *f, long long x, void *base, char *msg, size_t msg_len) {
  if (x < f->lo || x > f->hi) {
    snprintf(msg, msg_len, "must be from %lld to %lld", f->lo, f->hi);
    return "out_of_range";
  }
  *(long long *)((char *)base + f->offset) = x;
  return NULL;
}

/* ---- the jansson path: every error comes from here ---- */

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
  const char *code;
  switch (f->type) {
  case SVC_BODY_STRING:
  case SVC_BODY_ADDRESS:
  case SVC_BODY_U256:
  case SVC_BODY_ENUM:
    if (!json_is_string(v)) break;
    code = store_string(f, json_string_value(v), json_string_length(v), base, msg, sizeof msg);
    if (code) problem(errors, path, code, msg);
    return !code;
  case SVC_BODY_BOOL:
    if (!json_is_boolean(v)) break;
    *(bool *)dest = json_is_true(v);
    return true;
  case SVC_BODY_INT:
    if (!json_is_integer(v)) break;
    code = store_int(f, json_integer_value(v), base, msg, sizeof msg);
    if (code) problem(errors, path, code, msg);
    return !code;
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
      [SVC_BODY_STRING] = "a string",           [SVC_BODY_BOOL] = "a boolean",         [SVC_BODY_INT] = "an integer",
      [SVC_BODY_ADDRESS] = "an address string", [SVC_BODY_U256] = "an integer string", [SVC_BODY_ENUM] = "a string",
      [SVC_BODY_OBJECT] = "an object",          [SVC_BODY_ARRAY] = "an array",         [SVC_BODY_MAP] = "an object",
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
      } else if (v && spec[i].no_null) {
        member_path(path, sizeof path, prefix, spec[i].name);
        problem(errors, path, "wrong_type", "must not be null (omit it to leave it unchanged)");
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

/* ---- the scanner: one pass over a private copy of the text, strings decoded in place ----
 * It reads only what the spec allows and declines (returns false) on anything else: an escape it
 * does not decode (\u), a byte outside printable ASCII in a string, a number that is not a plain
 * integer in range, a member the spec does not name, a duplicate, a null where one is an error,
 * any value a store refuses. Every decline is read again by jansson, so the scanner only has to
 * agree with it on bodies without errors. Nesting is bounded by the spec's. */

struct scan {
  char *p, *end;
  char msg[160]; /* the stores' messages, unused: a refused value is read again by jansson */
};

static void skip_ws(struct scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

/* Consumes c (after whitespace); returns whether it was there. */
static bool expect(struct scan *s, char c) {
  skip_ws(s);
  if (s->p >= s->end || *s->p != c) return false;
  s->p++;
  return true;
}

static bool at(struct scan *s, char c) { return s->p < s->end && *s->p == c; }

/* Consumes the literal lit of n bytes; returns whether it was there. */
static bool literal(struct scan *s, const char *lit, size_t n) {
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0) return false;
  s->p += n;
  return true;
}

/* Reads a string at s->p, decoding it in place and NUL-terminating it; returns it with *len set,
 * or NULL to decline. */
static char *scan_string(struct scan *s, size_t *len) {
  if (!at(s, '"')) return NULL;
  char *start = ++s->p, *w = start;
  while (s->p < s->end) {
    unsigned char c = (unsigned char)*s->p++;
    if (c == '"') {
      *w = 0; /* at or before the closing quote, already consumed */
      *len = (size_t)(w - start);
      return start;
    }
    if (c < 0x20 || c >= 0x80) return NULL; /* control characters are malformed; UTF-8 is jansson's to check */
    if (c == '\\') {
      if (s->p >= s->end) return NULL;
      switch (*s->p++) {
      case '"': c = '"'; break;
      case '\\': c = '\\'; break;
      case '/': c = '/'; break;
      case 'b': c = '\b'; break;
      case 'f': c = '\f'; break;
      case 'n': c = '\n'; break;
      case 'r': c = '\r'; break;
      case 't': c = '\t'; break;
      default: return NULL; /* \u (surrogates, NUL) and invalid escapes */
      }
    }
    *w++ = (char)c;
  }
  return NULL;
}

/* Reads a JSON integer (no fraction or exponent) that fits a long long into *x; returns false to
 * decline. */
static bool scan_int(struct scan *s, long long *x) {
  bool neg = at(s, '-');
  if (neg) s->p++;
  if (s->p >= s->end || *s->p < '0' || *s->p > '9') return false;
  unsigned long long acc = 0;
  int digits = 0;
  if (*s->p == '0')
    s->p++;
  else
    for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
      if (++digits > 19) return false; /* 19 digits cannot overflow the accumulator */
      acc = acc * 10 + (unsigned)(*s->p - '0');
    }
  if (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == '.' || *s->p == 'e' || *s->p == 'E'))
    return false; /* a leading zero, or a real */
  if (neg ? acc > (unsigned long long)LLONG_MAX + 1 : acc > (unsigned long long)LLONG_MAX) return false;
  *x = !neg ? (long long)acc : acc == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)acc;
  return true;
}

static bool scan_object(struct scan *s, const struct svc_body_field *spec, size_t n, void *out, size_t *members);
static bool scan_elements(struct scan *s, const struct svc_body_field *f, void *base);

/* Reads the non-null value of field f at s->p into base; returns false to decline. */
static bool scan_value(struct scan *s, const struct svc_body_field *f, void *base) {
  switch (f->type) {
  case SVC_BODY_STRING:
  case SVC_BODY_ADDRESS:
  case SVC_BODY_U256:
  case SVC_BODY_ENUM: {
    size_t len;
    const char *str = scan_string(s, &len);
    return str && !store_string(f, str, len, base, s->msg, sizeof s->msg);
  }
  case SVC_BODY_BOOL: {
    bool *dest = (bool *)((char *)base + f->offset);
    if (literal(s, "true", 4))
      *dest = true;
    else if (literal(s, "false", 5))
      *dest = false;
    else
      return false;
    return true;
  }
  case SVC_BODY_INT: {
    long long x;
    return scan_int(s, &x) && !store_int(f, x, base, s->msg, sizeof s->msg);
  }
  case SVC_BODY_OBJECT: return scan_object(s, f->sub, f->nsub, (char *)base + f->offset, NULL);
  case SVC_BODY_ARRAY:
  case SVC_BODY_MAP: return scan_elements(s, f, base);
  }
  return false;
}

/* Reads an object of the members in spec into out, its member count (nulls included) into
 * *members when not NULL; returns false to decline. */
static bool scan_object(struct scan *s, const struct svc_body_field *spec, size_t n, void *out, size_t *members) {
  if (n > 64 || !expect(s, '{')) return false; /* seen is one bit per field */
  uint64_t seen = 0;
  size_t count = 0;
  skip_ws(s);
  if (at(s, '}'))
    s->p++;
  else
    for (;;) {
      size_t len, i = 0;
      const char *key = scan_string(s, &len);
      if (!key) return false;
      while (i < n && !(spec[i].name && strcmp(spec[i].name, key) == 0))
        i++;
      if (i == n || (seen >> i & 1)) return false; /* unknown, or a duplicate */
      seen |= (uint64_t)1 << i;
      count++;
      if (!expect(s, ':')) return false;
      skip_ws(s);
      if (at(s, 'n')) {
        if (spec[i].required || spec[i].no_null || !literal(s, "null", 4)) return false;
      } else {
        if (!scan_value(s, &spec[i], out)) return false;
        set_flag(out, spec[i].given);
      }
      skip_ws(s);
      if (at(s, '}')) {
        s->p++;
        break;
      }
      if (!at(s, ',')) return false;
      s->p++;
      skip_ws(s);
    }
  for (size_t i = 0; i < n; i++)
    if (spec[i].required && !(seen >> i & 1)) return false;
  if (members) *members = count;
  return true;
}

/* Reads the elements of an ARRAY or MAP field f into base; returns false to decline. */
static bool scan_elements(struct scan *s, const struct svc_body_field *f, void *base) {
  bool map = f->type == SVC_BODY_MAP, scalar = f->nsub == 1 && !f->sub[0].name;
  char close = map ? '}' : ']';
  if (!expect(s, map ? '{' : '[')) return false;
  char *elems = (char *)base + f->offset;
  size_t count = 0;
  skip_ws(s);
  if (at(s, close))
    s->p++;
  else
    for (;;) {
      if ((long long)count >= f->hi) return false; /* hi is the destination's capacity */
      char *elem = elems + count * f->elem_size;
      memset(elem, 0, f->elem_size);
      if (map) {
        size_t len;
        const char *key = scan_string(s, &len);
        if (!key) return false;
        for (size_t j = 0; j < count; j++)
          if (strcmp(*(const char **)(elems + j * f->elem_size + f->key_offset), key) == 0) return false;
        *(const char **)(elem + f->key_offset) = key;
        if (!expect(s, ':')) return false;
        skip_ws(s);
      }
      if (scalar ? at(s, 'n') || !scan_value(s, &f->sub[0], elem) : !scan_object(s, f->sub, f->nsub, elem, NULL))
        return false;
      count++;
      skip_ws(s);
      if (at(s, close)) {
        s->p++;
        break;
      }
      if (!at(s, ',')) return false;
      s->p++;
      skip_ws(s);
    }
  if ((long long)count < f->lo) return false;
  *(size_t *)((char *)base + f->count_offset) = count;
  return true;
}

static size_t extent(const struct svc_body_field *spec, size_t n);

/* Returns the bytes of the destination of field f. */
static size_t dest_size(const struct svc_body_field *f) {
  switch (f->type) {
  case SVC_BODY_STRING: return sizeof(const char *);
  case SVC_BODY_BOOL: return sizeof(bool);
  case SVC_BODY_INT: return sizeof(long long);
  case SVC_BODY_ADDRESS: return 43;
  case SVC_BODY_U256: return sizeof(u256);
  case SVC_BODY_ENUM: return sizeof(int);
  case SVC_BODY_OBJECT: return extent(f->sub, f->nsub);
  case SVC_BODY_ARRAY:
  case SVC_BODY_MAP: return f->hi > 0 ? (size_t)f->hi * f->elem_size : 0;
  }
  return 0;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Returns how many bytes from the start of the struct spec fills can be written: what a declined
 * scan zeroes again. */
static size_t extent(const struct svc_body_field *spec, size_t n) {
  size_t e = 0;
  for (size_t i = 0; i < n; i++) {
    const struct svc_body_field *f = &spec[i];
    e = max_size(e, f->offset + dest_size(f));
    e = max_size(e, f->given); /* 1 + offset of a bool: its end */
    if (f->type == SVC_BODY_U256) e = max_size(e, max_size(f->word_flag, f->text ? f->text - 1 + sizeof(char *) : 0));
    if (f->type == SVC_BODY_ARRAY || f->type == SVC_BODY_MAP) e = max_size(e, f->count_offset + sizeof(size_t));
  }
  return e;
}

/* ---- the handle ---- */

struct svc_body {
  json_t *root;   /* the jansson path's; NULL when the scanner read text */
  size_t members; /* the scanner's count of top-level members */
  char text[];    /* the scanner's copy of the body, strings decoded in place */
};

/* Reads text by the scanner; returns the body, or NULL with out zeroed over the spec's extent. */
static struct svc_body *fast_decode(const char *text, size_t len, const struct svc_body_field *spec, size_t n,
                                    void *out) {
  if (!text || !len) return NULL;
  struct svc_body *b = malloc(sizeof *b + len + 1);
  if (!b) return NULL;
  b->root = NULL;
  memcpy(b->text, text, len);
  b->text[len] = 0;
  struct scan s = {.p = b->text, .end = b->text + len};
  if (scan_object(&s, spec, n, out, &b->members)) {
    skip_ws(&s);
    if (s.p == s.end) return b;
  }
  free(b);
  memset(out, 0, extent(spec, n));
  return NULL;
}

/* Returns a body holding root (taken), or NULL (root freed) when out of memory. */
static struct svc_body *wrap(json_t *root) {
  struct svc_body *b = malloc(sizeof *b);
  if (!b) {
    json_decref(root);
    return NULL;
  }
  b->root = root;
  b->members = 0;
  return b;
}

struct svc_body *svc_body_decode_path(enum svc_body_path path, const char *text, size_t len,
                                      const struct svc_body_field *spec, size_t n, void *out, json_t *errors,
                                      enum svc_error *err, char *detail, size_t detail_len) {
  if (path != SVC_BODY_PATH_SLOW_ONLY) {
    struct svc_body *b = fast_decode(text, len, spec, n, out);
    if (b) {
      *err = SVC_ERR_validation_failed; /* as load leaves it */
      return b;
    }
    if (path == SVC_BODY_PATH_FAST_ONLY) return NULL;
  }
  json_t *root = load(text, len, err, detail, detail_len);
  if (root && !svc_body_read(root, spec, n, out, "", errors)) {
    json_decref(root);
    snprintf(detail, detail_len, "%zu field(s) failed validation", json_array_size(errors));
    return NULL;
  }
  if (!root) return NULL;
  struct svc_body *b = wrap(root);
  if (!b) {
    *err = SVC_ERR_internal_error;
    snprintf(detail, detail_len, "out of memory");
  }
  return b;
}

struct svc_body *svc_body_decode(const char *text, size_t len, const struct svc_body_field *spec, size_t n, void *out,
                                 json_t *errors, enum svc_error *err, char *detail, size_t detail_len) {
  return svc_body_decode_path(SVC_BODY_PATH_BOTH, text, len, spec, n, out, errors, err, detail, detail_len);
}

struct svc_body *svc_body_parse(struct svc_request *req, const struct svc_body_field *spec, size_t n, void *out) {
  json_t *errors = json_array();
  enum svc_error err;
  char detail[256];
  struct svc_body *b = svc_body_decode(req->body, req->body_len, spec, n, out, errors, &err, detail, sizeof detail);
  if (b) {
    json_decref(errors);
    return b;
  }
  if (json_array_size(errors))
    svc_reply_problem_fields(req, err, errors, "%s", detail);
  else {
    json_decref(errors);
    svc_reply_problem(req, err, "%s", detail);
  }
  return NULL;
}

struct svc_body *svc_body_parse_collect(struct svc_request *req, const struct svc_body_field *spec, size_t n, void *out,
                                        json_t *errors) {
  struct svc_body *b = fast_decode(req->body, req->body_len, spec, n, out);
  if (b) return b;
  enum svc_error err;
  char detail[256];
  json_t *root = load(req->body, req->body_len, &err, detail, sizeof detail);
  if (!root) {
    svc_reply_problem(req, err, "%s", detail);
    return NULL;
  }
  svc_body_read(root, spec, n, out, "", errors);
  b = wrap(root);
  if (!b) svc_reply_problem(req, SVC_ERR_internal_error, "out of memory");
  return b;
}

size_t svc_body_members(const struct svc_body *b) { return b->root ? json_object_size(b->root) : b->members; }

void svc_body_free(struct svc_body *b) {
  if (!b) return;
  json_decref(b->root);
  free(b);
}

enum svc_handler_result svc_reply_validation(struct svc_request *req, json_t *errors) {
  return svc_reply_problem_fields(req, SVC_ERR_validation_failed, errors, "%zu field(s) failed validation",
                                  json_array_size(errors));
}
