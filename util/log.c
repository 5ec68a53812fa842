#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum util_log_level cur_level = UTIL_LOG_INFO;
static enum util_log_format cur_format = UTIL_LOG_TEXT;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void util_log_init(enum util_log_level level, enum util_log_format format) {
  cur_level = level;
  cur_format = format;
}

bool util_log_enabled(enum util_log_level level) { return level >= cur_level; }

static void timestamp(char *buf, size_t len) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Appends s to out as the body of a JSON string (no quotes). */
static size_t json_escape(char *out, size_t cap, const char *s) {
  size_t n = 0;
  for (; *s && n + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n] = 0;
  return n;
}

static void emit(enum util_log_level level, const char *msg) {
  char ts[40];
  timestamp(ts, sizeof ts);
  if (cur_format == UTIL_LOG_JSON) {
    char esc[4096];
    json_escape(esc, sizeof esc, msg);
    fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, level_names[level], esc);
  } else {
    fprintf(stderr, "%s %s %s\n", ts, level_names[level], msg);
  }
}

void util_log(enum util_log_level level, const char *fmt, ...) {
  if (!util_log_enabled(level)) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  emit(level, msg);
}

void util_log_bug(const char *file, int line, const char *fmt, ...) {
  char msg[2048];
  int n = snprintf(msg, sizeof msg, "bug at %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  emit(UTIL_LOG_ERROR, msg);
}

void util_log_access(const char *method, const char *route, unsigned status, unsigned long long bytes,
                     unsigned long long micros, const char *request_id) {
  if (!util_log_enabled(UTIL_LOG_INFO)) return;
  char ts[40];
  timestamp(ts, sizeof ts);
  if (cur_format == UTIL_LOG_JSON) {
    char r[512];
    json_escape(r, sizeof r, route);
    fprintf(stderr,
            "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"access\",\"method\":\"%s\",\"route\":\"%s\","
            "\"status\":%u,\"bytes\":%llu,\"micros\":%llu,\"request_id\":\"%s\"}\n",
            ts, method, r, status, bytes, micros, request_id);
  } else {
    fprintf(stderr, "%s info access %s %s %u %llu %lluus %s\n", ts, method, route, status, bytes, micros, request_id);
  }
}
