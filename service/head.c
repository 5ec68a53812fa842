#include "service/head.h"

#include <string.h>
#include <strings.h>

char *svc_head_raw_path(const char *uri, char *out, size_t cap) {
  size_t plen = strcspn(uri, "?");
  if (plen > cap - 1) plen = cap - 1; /* truncated as snprintf would */
  memcpy(out, uri, plen);
  out[plen] = 0;
  return out;
}

/* Decoded, %2F would be a separator the client did not send and %00 would end the path early, so
 * either would let one path reach a route (its scope, its cache entry) that a proxy in front of us
 * saw as another. */
bool svc_head_path_refused(const char *path) {
  for (const char *p = strchr(path, '%'); p; p = strchr(p + 1, '%'))
    if ((p[1] == '2' && (p[2] == 'F' || p[2] == 'f')) || (p[1] == '0' && p[2] == '0')) return true;
  return false;
}

void svc_framing_add(struct svc_framing *f, const char *key, const char *value) {
  if (strcasecmp(key, "Content-Length") == 0) {
    f->content_length++;
    f->length_not_digits = f->length_not_digits || !value || !*value || value[strspn(value, "0123456789")] != 0;
  }
  if (strcasecmp(key, "Transfer-Encoding") == 0) {
    f->transfer_encoding++;
    f->chunked_only = f->chunked_only && value && strcasecmp(value, "chunked") == 0;
  }
  if (strcasecmp(key, "Host") == 0) f->host++;
  if (strpbrk(key, " \t")) f->key_space = true;
}

/* A proxy in front and sparkd could split an ambiguous stream differently and run the rest as
 * another request. */
const char *svc_framing_refused(const struct svc_framing *f) {
  if (f->key_space) return "a header name holds white space";
  if (f->content_length > 1) return "more than one Content-Length";
  /* libmicrohttpd refuses such a value itself before the access handler runs; checked here too so
   * that a library letting one through (or reading "+5" or " 5" as 5) is still refused */
  if (f->length_not_digits) return "a Content-Length that is not a number";
  if (f->content_length && f->transfer_encoding) return "both Content-Length and Transfer-Encoding";
  if (f->transfer_encoding > 1 || (f->transfer_encoding && !f->chunked_only))
    return "a Transfer-Encoding other than chunked";
  return NULL;
}

/* HTTP/1.1 requires exactly one Host header (RFC 9112 section 3.2) and libmicrohttpd checks it only
 * in its pedantic mode, whose other checks and plain-HTML errors we do not want; HTTP/1.0 had no
 * Host rule and stays allowed. */
const char *svc_head_host_refused(const char *version, unsigned hosts) {
  if (hosts > 1) return "more than one Host header";
  if (hosts == 0 && strcmp(version, "HTTP/1.0") != 0) return "an HTTP/1.1 request needs a Host header";
  return NULL;
}
