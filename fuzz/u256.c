/* Decimal uint256 parsing (every amount in a body, a snapshot or a query goes through it) and its
 * writers. The input is a length byte's worth of text; u256_from_dec, u256_parse_dec and
 * svc_parse_u256 must agree with each other and with a reading written here digit by digit, and
 * what they read must write back as the same digits. */
#include <jansson.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "risk/u256.h"
#include "service/request.h"

#define U256_MAX_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639935"

/* The independent reading: 0 malformed, 1 in range, 2 above 2^256-1; *low gets the value mod 2^64
 * and *canon the digits without leading zeros. */
static int reference(const char *t, size_t n, uint64_t *low, char *canon) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (t[i] < '0' || t[i] > '9') return 0;
  size_t z = 0;
  while (z + 1 < n && t[z] == '0')
    z++;
  size_t d = n - z;
  memcpy(canon, t + z, d < 100 ? d : 99);
  canon[d < 100 ? d : 99] = 0;
  uint64_t v = 0;
  for (size_t i = z; i < n; i++)
    v = v * 10 + (uint64_t)(t[i] - '0'); /* wraps: mod 2^64, as w[0] holds */
  *low = v;
  size_t maxlen = strlen(U256_MAX_DEC);
  if (d > maxlen || (d == maxlen && strncmp(t + z, U256_MAX_DEC, maxlen) > 0)) return 2;
  return 1;
}

int fuzz_u256(const uint8_t *data, size_t size) {
  if (size > 200) return 0; /* beyond the longest accepted text, nothing new to find */
  char text[201];
  memcpy(text, data, size);
  text[size] = 0;
  char *heap = malloc(size ? size : 1); /* unterminated: a read past len is an ASan report */
  memcpy(heap, data, size);

  u256 v;
  risk_err e = u256_from_dec(&v, heap, size);
  uint64_t low = 0;
  char canon[100];
  int want = reference(text, size, &low, canon);

  /* leading zeros beyond 78 digits may be refused as too long: that is documented */
  if (want == 1 && size > 78)
    FUZZ_CHECK(e == RISK_OK || e == RISK_PARSE, "long in-range text: %d", (int)e);
  else if (want == 1)
    FUZZ_CHECK(e == RISK_OK, "%s refused (%d)", text, (int)e);
  else if (want == 2)
    FUZZ_CHECK(e == RISK_OVERFLOW || (e == RISK_PARSE && size > 78), "%s: %d", text, (int)e);
  else
    FUZZ_CHECK(e == RISK_PARSE, "non-digits %s read (%d)", text, (int)e);

  if (e == RISK_OK) {
    FUZZ_CHECK(v.w[0] == low, "%s: low word %llu, want %llu", text, (unsigned long long)v.w[0],
               (unsigned long long)low);
    char dec[U256_DEC_MAX];
    size_t dl = u256_to_dec(v, dec);
    FUZZ_CHECK(dl == strlen(dec) && strcmp(dec, canon) == 0, "%s wrote back as %s", text, dec);
    unsigned decimals = (unsigned)(size * 7 % 81);
    char f1[U256_DEC_MAX + 2], f2[U256_DEC_MAX + 2];
    size_t l1 = u256_to_fixed(v, decimals, f1), l2 = u256_dec_to_fixed(dec, dl, decimals, f2);
    FUZZ_CHECK(l1 == l2 && strcmp(f1, f2) == 0, "fixed %u: %s vs %s", decimals, f1, f2);
    char hex[70];
    u256_to_hex(v, hex);
    u256 back;
    FUZZ_CHECK(u256_from_hex(&back, hex, strlen(hex)) == RISK_OK && u256_eq(back, v), "hex round trip %s", hex);
  }
  /* the NUL-terminated forms see the text up to its first NUL */
  size_t tl = strlen(text);
  u256 p;
  bool parsed = u256_parse_dec(text, &p);
  u256 q;
  FUZZ_CHECK(parsed == (u256_from_dec(&q, text, tl) == RISK_OK), "u256_parse_dec disagrees on %s", text);
  if (parsed) FUZZ_CHECK(u256_eq(p, q), "values differ");
  json_t *errors = json_array();
  u256 r;
  bool ok = svc_parse_u256(text, "amount", &r, errors);
  FUZZ_CHECK(ok == parsed && ok == (json_array_size(errors) == 0), "svc_parse_u256 disagrees on %s", text);
  json_decref(errors);
  free(heap);
  return 0;
}
