/* ctest-label: unit */
/* view_address_checksum (handlers/common.c), the per-thread remembered EIP-55 form: the
 * EIP-55 specification's own examples, then 20,000 addresses drawn with a fixed seed, each asked
 * three times in different letter cases and interleaved so that entries are evicted and found
 * again, against risk_eip55 (the uncached computation). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/common.h"
#include "risk/eip55.h"

START_TEST(eip55_examples) {
  /* https://eips.ethereum.org/EIPS/eip-55 test cases */
  const char *want[] = {
      "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
      "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
      "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
  };
  for (int round = 0; round < 3; round++) /* the first asks compute, the later ones are remembered */
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
      char in[43], out[43];
      strcpy(in, want[i]);
      for (int k = 2; k < 42; k++)
        if (round == 1 && in[k] >= 'A' && in[k] <= 'F')
          in[k] = (char)(in[k] - 'A' + 'a');
        else if (round == 2 && in[k] >= 'a' && in[k] <= 'f')
          in[k] = (char)(in[k] - 'a' + 'A');
      ck_assert(view_address_checksum(in, out));
      ck_assert_str_eq(out, want[i]);
    }
}
END_TEST

START_TEST(not_addresses) {
  char out[43];
  const char *bad[] = {NULL,
                       "",
                       "0x",
                       "0x12",
                       "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
                       "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
                       "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert(!view_address_checksum(bad[i], out));
}
END_TEST

static uint64_t rng = 0x5eed2026c0de0055u;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

START_TEST(against_risk_eip55) {
  enum { N = 20000 };
  char(*addr)[43] = malloc(N * sizeof *addr);
  ck_assert_ptr_nonnull(addr);
  for (int i = 0; i < N; i++) {
    addr[i][0] = '0';
    addr[i][1] = 'x';
    for (int k = 0; k < 40; k++)
      addr[i][2 + k] = "0123456789abcdef"[next() & 15];
    if (i % 7 == 0) memset(addr[i] + 2, '0', 16); /* vanity-style leading zeros */
    addr[i][42] = 0;
  }
  for (int pass = 0; pass < 3; pass++)
    for (int j = 0; j < N; j++) {
      int i = pass == 1 ? N - 1 - j : (int)(next() % N);
      char in[43], got[43], want[43];
      strcpy(in, addr[i]);
      if (pass == 2)
        for (int k = 2; k < 42; k++)
          if (in[k] >= 'a' && (next() & 1)) in[k] = (char)(in[k] - 'a' + 'A');
      ck_assert(risk_eip55(addr[i], want));
      ck_assert(view_address_checksum(in, got));
      if (strcmp(got, want) != 0) ck_abort_msg("%s: got %s want %s (pass %d)", in, got, want, pass);
    }
  free(addr);
}
END_TEST

int main(void) {
  Suite *s = suite_create("checksum");
  TCase *tc = tcase_create("unit");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, eip55_examples);
  tcase_add_test(tc, not_addresses);
  tcase_add_test(tc, against_risk_eip55);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
