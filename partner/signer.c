/* secp256k1 recoverable signatures and HMAC-SHA256 with OpenSSL 3 (see service/crypto.h). */
#include "partner/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "risk/eip55.h"
#include "risk/keccak.h"

struct partner_signer {
  EVP_PKEY *pkey;
  EC_GROUP *group;
  EC_POINT *pub;
  BIGNUM *order;
  char address[43];
};

void partner_hex0x(const uint8_t *data, size_t n, char *out) {
  static const char hx[] = "0123456789abcdef";
  out[0] = '0';
  out[1] = 'x';
  for (size_t i = 0; i < n; i++) {
    out[2 + 2 * i] = hx[data[i] >> 4];
    out[3 + 2 * i] = hx[data[i] & 15];
  }
  out[2 + 2 * n] = 0;
}

void partner_signer_free(struct partner_signer *s) {
  if (!s) return;
  EVP_PKEY_free(s->pkey);
  EC_POINT_free(s->pub);
  EC_GROUP_free(s->group);
  BN_free(s->order);
  free(s);
}

const char *partner_signer_address(const struct partner_signer *s) { return s->address; }

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Returns a signer for the 32-byte private scalar, or NULL (err set) when it is 0 or >= n. */
static struct partner_signer *from_scalar(const uint8_t priv[32], char *err, size_t err_len) {
  struct partner_signer *s = calloc(1, sizeof *s);
  BIGNUM *d = BN_bin2bn(priv, 32, NULL);
  BN_CTX *ctx = BN_CTX_new();
  OSSL_PARAM_BLD *bld = NULL;
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *pctx = NULL;
  uint8_t pub[65];
  bool ok = false;
  if (!s || !d || !ctx) goto out;
  s->group = EC_GROUP_new_by_curve_name(NID_secp256k1);
  s->order = BN_new();
  if (!s->group || !s->order || !EC_GROUP_get_order(s->group, s->order, ctx)) goto out;
  if (BN_is_zero(d) || BN_cmp(d, s->order) >= 0) {
    snprintf(err, err_len, "signing key is out of range");
    goto out;
  }
  s->pub = EC_POINT_new(s->group);
  if (!s->pub || !EC_POINT_mul(s->group, s->pub, d, NULL, NULL, ctx) ||
      EC_POINT_point2oct(s->group, s->pub, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, ctx) != 65)
    goto out;
  bld = OSSL_PARAM_BLD_new();
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp256k1", 0) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
    goto out;
  params = OSSL_PARAM_BLD_to_param(bld);
  pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (!params || !pctx || EVP_PKEY_fromdata_init(pctx) <= 0 ||
      EVP_PKEY_fromdata(pctx, &s->pkey, EVP_PKEY_KEYPAIR, params) <= 0)
    goto out;
  /* address = last 20 bytes of keccak256(X || Y) */
  uint8_t h[32];
  char raw[43];
  risk_keccak256(pub + 1, 64, h);
  partner_hex0x(h + 12, 20, raw);
  risk_eip55(raw, s->address);
  ok = true;
out:
  if (!ok && !err[0]) snprintf(err, err_len, "cannot build the secp256k1 key");
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_CTX_free(ctx);
  BN_clear_free(d);
  if (!ok) {
    partner_signer_free(s);
    return NULL;
  }
  return s;
}

struct partner_signer *partner_signer_load(const char *path, char *err, size_t err_len) {
  err[0] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, err_len, "cannot open signing key file %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || (st.st_mode & 077)) {
    close(fd);
    snprintf(err, err_len, "signing key file %s must not be readable by group or others (chmod 600)", path);
    return NULL;
  }
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) n = 0;
  buf[n] = 0;
  const char *p = buf;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) p += 2;
  uint8_t priv[32];
  for (int i = 0; i < 32; i++) {
    int a = hexval(p[2 * i]), b = a < 0 ? -1 : hexval(p[2 * i + 1]);
    if (a < 0 || b < 0) {
      snprintf(err, err_len, "signing key file %s: expected 0x and 64 hex digits", path);
      return NULL;
    }
    priv[i] = (uint8_t)(a << 4 | b);
  }
  const char *rest = p + 64;
  while (*rest == '\n' || *rest == '\r' || *rest == ' ')
    rest++;
  if (*rest) {
    snprintf(err, err_len, "signing key file %s: expected 0x and 64 hex digits", path);
    return NULL;
  }
  struct partner_signer *s = from_scalar(priv, err, err_len);
  OPENSSL_cleanse(priv, sizeof priv);
  OPENSSL_cleanse(buf, sizeof buf);
  return s;
}

bool partner_signer_create_file(const char *path, char addr_out[43], char *err, size_t err_len) {
  err[0] = 0;
  uint8_t priv[32];
  struct partner_signer *s = NULL;
  for (int tries = 0; !s && tries < 8; tries++) {
    if (RAND_priv_bytes(priv, sizeof priv) != 1) {
      snprintf(err, err_len, "random generator failed");
      return false;
    }
    err[0] = 0;
    s = from_scalar(priv, err, err_len);
  }
  if (!s) return false;
  char text[2 + 64 + 2];
  partner_hex0x(priv, 32, text);
  OPENSSL_cleanse(priv, sizeof priv);
  strcat(text, "\n");
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
    partner_signer_free(s);
    OPENSSL_cleanse(text, sizeof text);
    return false;
  }
  bool ok = fchmod(fd, 0600) == 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
  if (close(fd) != 0) ok = false;
  OPENSSL_cleanse(text, sizeof text);
  if (!ok) {
    snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
    unlink(path);
    partner_signer_free(s);
    return false;
  }
  memcpy(addr_out, s->address, 43);
  partner_signer_free(s);
  return true;
}

bool partner_signer_sign(const struct partner_signer *s, const uint8_t digest[32], uint8_t sig[65]) {
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(s->pkey, NULL);
  uint8_t der[80];
  size_t der_len = sizeof der;
  ECDSA_SIG *es = NULL;
  BN_CTX *ctx = BN_CTX_new();
  BIGNUM *r = NULL, *sv = NULL, *e = NULL, *sinv = NULL, *u1 = NULL, *u2 = NULL, *x = NULL, *y = NULL;
  EC_POINT *R = NULL;
  bool ok = false;
  if (!pctx || !ctx || EVP_PKEY_sign_init(pctx) <= 0 || EVP_PKEY_sign(pctx, der, &der_len, digest, 32) <= 0) goto out;
  const uint8_t *p = der;
  if (!(es = d2i_ECDSA_SIG(NULL, &p, (long)der_len))) goto out;
  r = BN_dup(ECDSA_SIG_get0_r(es));
  sv = BN_dup(ECDSA_SIG_get0_s(es));
  e = BN_bin2bn(digest, 32, NULL);
  sinv = BN_new(), u1 = BN_new(), u2 = BN_new(), x = BN_new(), y = BN_new();
  if (!r || !sv || !e || !sinv || !u1 || !u2 || !x || !y) goto out;
  /* low s: s > n/2 -> n - s (the same signature for ecrecover, which rejects high s) */
  BIGNUM *half = BN_dup(s->order);
  if (!half || !BN_rshift1(half, half)) {
    BN_free(half);
    goto out;
  }
  if (BN_cmp(sv, half) > 0 && !BN_sub(sv, s->order, sv)) {
    BN_free(half);
    goto out;
  }
  BN_free(half);
  /* recovery id: R = (e/s) G + (r/s) Q; v = 27 + parity of R.y (R.x == r since r < n) */
  if (!BN_mod_inverse(sinv, sv, s->order, ctx) || !BN_mod_mul(u1, e, sinv, s->order, ctx) ||
      !BN_mod_mul(u2, r, sinv, s->order, ctx))
    goto out;
  R = EC_POINT_new(s->group);
  if (!R || !EC_POINT_mul(s->group, R, u1, s->pub, u2, ctx) ||
      !EC_POINT_get_affine_coordinates(s->group, R, x, y, ctx) || BN_cmp(x, r) != 0)
    goto out;
  if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(sv, sig + 32, 32) != 32) goto out;
  sig[64] = (uint8_t)(27 + BN_is_odd(y));
  ok = true;
out:
  EC_POINT_free(R);
  BN_free(r), BN_free(sv), BN_free(e), BN_free(sinv), BN_free(u1), BN_free(u2), BN_free(x), BN_free(y);
  ECDSA_SIG_free(es);
  BN_CTX_free(ctx);
  EVP_PKEY_CTX_free(pctx);
  return ok;
}

void partner_hmac_sha256_hex(const void *key, size_t key_len, const void *a, size_t a_len, const void *b, size_t b_len,
                         char out[65]) {
  uint8_t mac[32];
  size_t mac_len = 0;
  EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                         OSSL_PARAM_construct_end()};
  memset(mac, 0, sizeof mac);
  if (c && EVP_MAC_init(c, key, key_len, params) && EVP_MAC_update(c, a, a_len) && EVP_MAC_update(c, b, b_len))
    EVP_MAC_final(c, mac, &mac_len, sizeof mac);
  EVP_MAC_CTX_free(c);
  EVP_MAC_free(m);
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hx[mac[i] >> 4];
    out[2 * i + 1] = hx[mac[i] & 15];
  }
  out[64] = 0;
}
