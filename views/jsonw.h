/* An append-only JSON writer for hot responses (account lookups, quotes) and streamed output
 * (NDJSON to a FILE*, see jw_flush and jw_nl): keys and values go straight into one growing
 * buffer, in the order written, with the bytes jansson's
 * json_dumps(JSON_COMPACT) gives for the same object built in the same order (strings escaped as
 * jansson does: \" \\ \b \f \n \r \t, other control characters \u00XX, UTF-8 as is). No tree,
 * no per-value allocation. Commas are placed automatically: a value or key after another one in
 * the same object or array is preceded by ','. Allocation failure is sticky (oom; jw_cstr returns
 * NULL). File-local static inline helpers: no exported names. */
#ifndef SPARKD_VIEWS_JSONW_H
#define SPARKD_VIEWS_JSONW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/u256.h"
#include "util/dec.h"

struct jw {
  char *buf;
  size_t len, cap;
  bool oom;
  char last; /* the last byte jw_flush wrote out, so the comma rule carries on across a flush */
};

/* Makes room for n more bytes; returns false (and marks the writer failed) when it cannot. */
static inline bool jw_reserve(struct jw *w, size_t n) {
  if (w->oom) return false;
  if (w->len + n <= w->cap) return true;
  size_t cap = w->cap ? w->cap : 2048;
  while (cap < w->len + n)
    cap *= 2;
  char *p = realloc(w->buf, cap);
  if (!p) {
    w->oom = true;
    return false;
  }
  w->buf = p;
  w->cap = cap;
  return true;
}

static inline void jw_raw(struct jw *w, const char *s, size_t n) {
  if (!jw_reserve(w, n)) return;
  memcpy(w->buf + w->len, s, n);
  w->len += n;
}

static inline void jw_ch(struct jw *w, char c) {
  if (!jw_reserve(w, 1)) return;
  w->buf[w->len++] = c;
}

/* A comma unless this is the first member of an object or array, a value after its key, or the
 * first value of an NDJSON record (after jw_nl). */
static inline void jw_sep(struct jw *w) {
  char c;
  if (w->len)
    c = w->buf[w->len - 1];
  else if (!(c = w->last))
    return;
  if (c != '{' && c != '[' && c != ':' && c != '\n') jw_ch(w, ',');
}

/* Ends an NDJSON record: a newline, after which the next value starts a new record. */
static inline void jw_nl(struct jw *w) { jw_ch(w, '\n'); }

/* Writes the text so far to f and empties the buffer (the allocation is kept), so a long
 * document or stream can go out in pieces while it is written; commas come out as if it had
 * been written in one piece. Returns false when the writer has failed (allocation) or f has a
 * write error. */
static inline bool jw_flush(struct jw *w, FILE *f) {
  if (w->oom) return false;
  bool ok = true;
  if (w->len) {
    w->last = w->buf[w->len - 1];
    ok = fwrite(w->buf, 1, w->len, f) == w->len;
    w->len = 0;
  }
  return ok && !ferror(f);
}

/* "key": (key is a literal of plain characters: not escaped). */
static inline void jw_key(struct jw *w, const char *key) {
  jw_sep(w);
  size_t n = strlen(key);
  if (!jw_reserve(w, n + 3)) return;
  w->buf[w->len++] = '"';
  memcpy(w->buf + w->len, key, n);
  w->len += n;
  w->buf[w->len++] = '"';
  w->buf[w->len++] = ':';
}

static inline void jw_obj(struct jw *w) {
  jw_sep(w);
  jw_ch(w, '{');
}
static inline void jw_obj_end(struct jw *w) { jw_ch(w, '}'); }
static inline void jw_arr(struct jw *w) {
  jw_sep(w);
  jw_ch(w, '[');
}
static inline void jw_arr_end(struct jw *w) { jw_ch(w, ']'); }

static inline void jw_null(struct jw *w) {
  jw_sep(w);
  jw_raw(w, "null", 4);
}

static inline void jw_bool(struct jw *w, bool b) {
  jw_sep(w);
  if (b)
    jw_raw(w, "true", 4);
  else
    jw_raw(w, "false", 5);
}

static inline void jw_int(struct jw *w, int64_t v) {
  char d[24], *p = util_i64_digits(v, d + sizeof d);
  jw_sep(w);
  jw_raw(w, p, (size_t)(d + sizeof d - p));
}

/* A JSON string of s (escaped as jansson escapes). */
static inline void jw_str(struct jw *w, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  jw_sep(w);
  size_t n = strlen(s);
  if (!jw_reserve(w, n + 2)) return;
  w->buf[w->len++] = '"';
  const char *run = s;
  for (const char *p = s;; p++) {
    unsigned char c = (unsigned char)*p;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    jw_raw(w, run, (size_t)(p - run));
    if (!c) break;
    char e[6] = {'\\', 0, '0', '0', 0, 0};
    size_t en = 2;
    switch (c) {
    case '"': e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\b': e[1] = 'b'; break;
    case '\f': e[1] = 'f'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    default:
      e[1] = 'u';
      e[4] = hex[c >> 4];
      e[5] = hex[c & 15];
      en = 6;
    }
    jw_raw(w, e, en);
    run = p + 1;
  }
  jw_ch(w, '"');
}

/* A string of digits (or any text without characters to escape) of length n. */
static inline void jw_plain(struct jw *w, const char *s, size_t n) {
  jw_sep(w);
  if (!jw_reserve(w, n + 2)) return;
  w->buf[w->len++] = '"';
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len++] = '"';
}

/* The decimal form of v into d (U256_DEC_MAX bytes), NUL-terminated, as u256_to_dec writes it;
 * returns its length. Values below 2^64 (most amounts, prices and base values) skip the 256-bit
 * division. */
static inline size_t jw_dec(u256 v, char *d) {
  if (v.w[1] | v.w[2] | v.w[3]) return u256_to_dec(v, d);
  char tmp[20];
  char *p = util_u64_digits(v.w[0], tmp + sizeof tmp);
  size_t n = (size_t)(tmp + sizeof tmp - p);
  memcpy(d, p, n);
  d[n] = 0;
  return n;
}

/* The decimal integer string of v. */
static inline void jw_u256(struct jw *w, u256 v) {
  char d[U256_DEC_MAX];
  size_t n = jw_dec(v, d);
  jw_plain(w, d, n);
}

/* The fixed-point string of v with `decimals` decimals (u256_to_fixed). */
static inline void jw_fixed(struct jw *w, u256 v, unsigned decimals) {
  char d[U256_DEC_MAX], f[U256_DEC_MAX + 2];
  size_t n = jw_dec(v, d);
  jw_plain(w, f, u256_dec_to_fixed(d, n, decimals, f));
}

static inline void jw_kstr(struct jw *w, const char *k, const char *s) {
  jw_key(w, k);
  jw_str(w, s);
}
static inline void jw_kint(struct jw *w, const char *k, int64_t v) {
  jw_key(w, k);
  jw_int(w, v);
}
static inline void jw_kbool(struct jw *w, const char *k, bool b) {
  jw_key(w, k);
  jw_bool(w, b);
}
static inline void jw_knull(struct jw *w, const char *k) {
  jw_key(w, k);
  jw_null(w);
}
static inline void jw_ku256(struct jw *w, const char *k, u256 v) {
  jw_key(w, k);
  jw_u256(w, v);
}
static inline void jw_kfixed(struct jw *w, const char *k, u256 v, unsigned decimals) {
  jw_key(w, k);
  jw_fixed(w, v, decimals);
}

/* "k": the integer string of v, then "kf": its fixed-point string with `decimals` decimals (the
 * pairs responses carry, e.g. supplied / supplied_human); v is converted to decimal once. */
static inline void jw_ku256_kfixed(struct jw *w, const char *k, const char *kf, u256 v, unsigned decimals) {
  char d[U256_DEC_MAX], f[U256_DEC_MAX + 2];
  size_t n = jw_dec(v, d);
  jw_key(w, k);
  jw_plain(w, d, n);
  jw_key(w, kf);
  jw_plain(w, f, u256_dec_to_fixed(d, n, decimals, f));
}

/* "kf": the fixed-point string of v with `decimals` decimals, then "k": its integer string. */
static inline void jw_kfixed_ku256(struct jw *w, const char *kf, const char *k, u256 v, unsigned decimals) {
  char d[U256_DEC_MAX], f[U256_DEC_MAX + 2];
  size_t n = jw_dec(v, d);
  jw_key(w, kf);
  jw_plain(w, f, u256_dec_to_fixed(d, n, decimals, f));
  jw_key(w, k);
  jw_plain(w, d, n);
}

/* Appends another writer's text (a complete value) as the next value. */
static inline void jw_append(struct jw *w, const struct jw *other) {
  if (other->oom) {
    w->oom = true;
    return;
  }
  jw_sep(w);
  jw_raw(w, other->buf, other->len);
}

/* Writes text, a complete JSON value serialised elsewhere, as the next value. */
static inline void jw_json(struct jw *w, const char *text, size_t n) {
  jw_sep(w);
  jw_raw(w, text, n);
}

/* Returns the text written, NUL-terminated and handed to the caller (free), or NULL after an
 * allocation failure (the buffer then freed). */
static inline char *jw_cstr(struct jw *w) {
  if (!jw_reserve(w, 1)) {
    free(w->buf);
    w->buf = NULL;
    return NULL;
  }
  w->buf[w->len] = 0;
  char *out = w->buf;
  w->buf = NULL;
  w->len = w->cap = 0;
  w->last = 0;
  return out;
}

/* Frees the buffer. */
static inline void jw_free(struct jw *w) {
  free(w->buf);
  w->buf = NULL;
  w->len = w->cap = 0;
}

#endif
