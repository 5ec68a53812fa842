/* ctest-label: node */
/* partner/signer: the signing key file (mode 0600, refused when group/other readable), the
 * signer address for a known private key, low-s recoverable signatures checked by npm ethers
 * (recoverAddress on 64 digests; verifyTypedData on an LTV record, every changed field failing,
 * via tests/ltv_eip712.mjs), deterministic signatures (the same 65 bytes on every signing and from
 * every load of the key, equal byte for byte to npm ethers' RFC 6979 SigningKey.sign), and
 * HMAC-SHA256 against RFC 4231. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "partner/signer.h"
#include "risk/keccak.h"
#include "risk/ltv.h"
#include "util/hex.h"

static char dir[] = "/tmp/check_node_ltv_sign.XXXXXX";

static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
}

/* Runs cmd and returns its first output line in out (trailing newline removed) and exit status. */
static int run(const char *cmd, char *out, size_t len) {
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  out[0] = 0;
  size_t n = fread(out, 1, len - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_key_file) {
  char path[256], err[256], addr[43];
  /* private key 1: the well-known address of 1*G */
  snprintf(path, sizeof path, "%s/one.key", dir);
  write_file(path, "0x0000000000000000000000000000000000000000000000000000000000000001\n", 0600);
  struct partner_signer *s = partner_signer_load(path, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  ck_assert_str_eq(partner_signer_address(s), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
  partner_signer_free(s);
  /* group-readable: refused */
  chmod(path, 0640);
  ck_assert_ptr_null(partner_signer_load(path, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
  /* malformed and out of range */
  write_file(path, "0x12\n", 0600);
  ck_assert_ptr_null(partner_signer_load(path, err, sizeof err));
  write_file(path, "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141\n", 0600); /* n */
  ck_assert_ptr_null(partner_signer_load(path, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "out of range"));
  /* create: mode 0600, loads back to the same address, never overwrites */
  snprintf(path, sizeof path, "%s/new.key", dir);
  ck_assert_msg(partner_signer_create_file(path, addr, err, sizeof err), "%s", err);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0600);
  s = partner_signer_load(path, err, sizeof err);
  ck_assert_ptr_nonnull(s);
  ck_assert_str_eq(partner_signer_address(s), addr);
  partner_signer_free(s);
  ck_assert(!partner_signer_create_file(path, addr, err, sizeof err));
}
END_TEST

START_TEST(test_signatures_recover_with_ethers) {
  char path[256], err[256], addr[43], listp[256];
  snprintf(path, sizeof path, "%s/sig.key", dir);
  unlink(path);
  ck_assert(partner_signer_create_file(path, addr, err, sizeof err));
  struct partner_signer *s = partner_signer_load(path, err, sizeof err);
  ck_assert_ptr_nonnull(s);
  snprintf(listp, sizeof listp, "%s/sigs.txt", dir);
  FILE *f = fopen(listp, "w");
  int v27 = 0, v28 = 0;
  static const uint8_t half_n[32] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4,
                                     0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};
  for (int i = 0; i < 64; i++) {
    uint8_t msg[4] = {(uint8_t)i, 1, 2, 3}, d[32], sig[65];
    risk_keccak256(msg, sizeof msg, d);
    ck_assert(partner_signer_sign(s, d, sig));
    ck_assert(sig[64] == 27 || sig[64] == 28);
    ck_assert_int_le(memcmp(sig + 32, half_n, 32), 0); /* low s */
    if (sig[64] == 27)
      v27++;
    else
      v28++;
    char dh[67], sh[133];
    util_hex0x(d, 32, dh);
    util_hex0x(sig, 65, sh);
    fprintf(f, "%s %s\n", dh, sh);
  }
  fclose(f);
  ck_assert(v27 > 0 && v28 > 0); /* both recovery ids occur and are right */
  char cmd[1024], out[64 * 50];
  snprintf(cmd, sizeof cmd, "cd %s && node tests/ltv_eip712.mjs recover %s", SPARKD_SOURCE_DIR, listp);
  ck_assert_int_eq(run(cmd, out, sizeof out), 0);
  int lines = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++)
    ck_assert_str_eq(line, addr);
  ck_assert_int_eq(lines, 64);

  /* an LTV record: signed digest verified by ethers.verifyTypedData, changed fields fail */
  struct risk_ltv_signed r = {.sequence = 3,
                              .ltv_bps = 7123,
                              .raw_ltv_bps = 6411,
                              .state = RISK_LTV_MARGIN_CALL,
                              .collateral_value = u256_from_u64(780000000000000ull),
                              .weighted_value = u256_from_u64(702000000000000ull),
                              .debt = u256_from_u64(5000000000000ull),
                              .debt_value = u256_from_u64(500000000000000ull),
                              .as_of = 1767225600,
                              .cure_deadline = 1767484800};
  risk_keccak256((const uint8_t *)"42", 2, r.position_id);
  uint8_t d[32], sig[65];
  risk_ltv_digest(&r, 1, d);
  ck_assert(partner_signer_sign(s, d, sig));
  char pid[67], sh[133], jpath[256];
  util_hex0x(r.position_id, 32, pid);
  util_hex0x(sig, 65, sh);
  snprintf(jpath, sizeof jpath, "%s/rec.json", dir);
  f = fopen(jpath, "w");
  fprintf(f,
          "{\"chain_id\":1,\"signer\":\"%s\",\"signature\":\"%s\",\"record\":{\"positionId\":\"%s\","
          "\"sequence\":\"3\",\"ltvBps\":\"7123\",\"rawLtvBps\":\"6411\",\"state\":\"2\","
          "\"collateralValue\":\"780000000000000\",\"weightedCollateralValue\":\"702000000000000\","
          "\"debt\":\"5000000000000\",\"debtValue\":\"500000000000000\",\"asOf\":\"1767225600\","
          "\"cureDeadline\":\"1767484800\"}}",
          addr, sh, pid);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cd %s && node tests/ltv_eip712.mjs verify %s 2>&1", SPARKD_SOURCE_DIR, jpath);
  int rc = run(cmd, out, sizeof out);
  ck_assert_msg(rc == 0, "ethers: %s", out);
  ck_assert_ptr_nonnull(strstr(out, addr));
  partner_signer_free(s);
}
END_TEST

/* RFC 6979 fixes the nonce from the key and the digest, so an independent implementation (ethers,
 * over noble-curves) must produce the very same bytes; two loads of a key (two contexts, each
 * randomized differently) and two signings by one load must too. */
START_TEST(test_signatures_are_deterministic) {
  static const char *const keys[] = {
      "0x0000000000000000000000000000000000000000000000000000000000000001",
      "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
      "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140", /* n - 1 */
  };
  enum { NKEYS = sizeof keys / sizeof keys[0], NDIGESTS = 10 };
  uint8_t digests[NDIGESTS][32];
  memset(digests[0], 0, 32);
  memset(digests[1], 0xff, 32); /* above n: reduced mod n before signing */
  for (int i = 2; i < NDIGESTS - 1; i++) {
    uint8_t msg[2] = {(uint8_t)i, 0x5a};
    risk_keccak256(msg, sizeof msg, digests[i]);
  }
  struct risk_ltv_signed r = {.sequence = 9,
                              .ltv_bps = 8100,
                              .raw_ltv_bps = 7290,
                              .state = RISK_LTV_WARNING,
                              .collateral_value = u256_from_u64(780000000000000ull),
                              .weighted_value = u256_from_u64(702000000000000ull),
                              .debt = u256_from_u64(5686000000000ull),
                              .debt_value = u256_from_u64(568600000000000ull),
                              .as_of = 1767225600,
                              .cure_deadline = 0};
  risk_keccak256((const uint8_t *)"7", 1, r.position_id);
  risk_ltv_digest(&r, 1, digests[NDIGESTS - 1]);

  char path[256], listp[256], err[256];
  static char ours[NKEYS * NDIGESTS][133];
  snprintf(listp, sizeof listp, "%s/det.txt", dir);
  FILE *f = fopen(listp, "w");
  ck_assert_ptr_nonnull(f);
  for (int k = 0; k < NKEYS; k++) {
    snprintf(path, sizeof path, "%s/det%d.key", dir, k);
    char text[80];
    snprintf(text, sizeof text, "%s\n", keys[k]);
    write_file(path, text, 0600);
    struct partner_signer *a = partner_signer_load(path, err, sizeof err),
                          *b = partner_signer_load(path, err, sizeof err);
    ck_assert_msg(a && b, "%s", err);
    for (int i = 0; i < NDIGESTS; i++) {
      uint8_t s1[65], s2[65], s3[65];
      ck_assert(partner_signer_sign(a, digests[i], s1));
      ck_assert(partner_signer_sign(a, digests[i], s2));
      ck_assert(partner_signer_sign(b, digests[i], s3));
      ck_assert_msg(memcmp(s1, s2, 65) == 0, "key %d digest %d: two signings differ", k, i);
      ck_assert_msg(memcmp(s1, s3, 65) == 0, "key %d digest %d: two loads of the key differ", k, i);
      char dh[67];
      util_hex0x(digests[i], 32, dh);
      util_hex0x(s1, 65, ours[k * NDIGESTS + i]);
      fprintf(f, "%s %s\n", keys[k], dh);
    }
    partner_signer_free(a);
    partner_signer_free(b);
  }
  fclose(f);
  char cmd[1024], out[NKEYS * NDIGESTS * 140];
  snprintf(cmd, sizeof cmd, "cd %s && node tests/ltv_eip712.mjs sign %s", SPARKD_SOURCE_DIR, listp);
  ck_assert_int_eq(run(cmd, out, sizeof out), 0);
  int n = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
    ck_assert_int_lt(n, NKEYS * NDIGESTS);
    ck_assert_msg(strcmp(line, ours[n]) == 0, "key %d digest %d: ethers %s, ours %s", n / NDIGESTS, n % NDIGESTS, line,
                  ours[n]);
  }
  ck_assert_int_eq(n, NKEYS * NDIGESTS);
}
END_TEST

START_TEST(test_hmac) {
  /* RFC 4231 test case 2, the message split in two parts */
  char out[65];
  const char *a = "what do ya ", *b = "want for nothing?";
  partner_hmac_sha256_hex("Jefe", 4, a, strlen(a), b, strlen(b), out);
  ck_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

int main(void) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  Suite *s = suite_create("ltv_sign");
  TCase *tc = tcase_create("ltv_sign");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_key_file);
  tcase_add_test(tc, test_signatures_recover_with_ethers);
  tcase_add_test(tc, test_signatures_are_deterministic);
  tcase_add_test(tc, test_hmac);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  return failed != 0;
}
