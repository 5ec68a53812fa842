/* secp256k1 recoverable signatures with libsecp256k1; HMAC-SHA256 and randomness with OpenSSL 3
 * (see partner/signer.h). */
#include "partner/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "risk/eip55.h"
#include "risk/keccak.h"
#include "util/hex.h"

/* The context is written only while the signer is built (create, randomize) and read-only after,
 * so concurrent partner_signer_sign calls may share it. */
struct partner_signer {
  secp256k1_context *ctx;
  uint8_t seckey[32];
  char address[43];
};

void partner_signer_free(struct partner_signer *s) {
  if (!s) return;
  if (s->ctx) secp256k1_context_destroy(s->ctx);
  OPENSSL_cleanse(s->seckey, sizeof s->seckey);
  free(s);
}

const char *partner_signer_address(const struct partner_signer *s) { return s->address; }

/* Returns a signer for the 32-byte private scalar, or NULL (err set) when it is 0 or >= n. */
static struct partner_signer *from_scalar(const uint8_t priv[32], char *err, size_t err_len) {
  struct partner_signer *s = calloc(1, sizeof *s);
  uint8_t seed[32], pub[65];
  size_t pub_len = sizeof pub;
  secp256k1_pubkey pk;
  bool ok = false;
  if (!s || !(s->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE))) goto out;
  if (!secp256k1_ec_seckey_verify(s->ctx, priv)) {
    snprintf(err, err_len, "signing key is out of range");
    goto out;
  }
  memcpy(s->seckey, priv, 32);
  /* blinding against timing and power side channels; it does not change any signature */
  if (RAND_priv_bytes(seed, sizeof seed) != 1 || !secp256k1_context_randomize(s->ctx, seed)) goto out;
  if (!secp256k1_ec_pubkey_create(s->ctx, &pk, s->seckey) ||
      !secp256k1_ec_pubkey_serialize(s->ctx, pub, &pub_len, &pk, SECP256K1_EC_UNCOMPRESSED) || pub_len != 65)
    goto out;
  /* address = last 20 bytes of keccak256(X || Y) */
  uint8_t h[32];
  char raw[43];
  risk_keccak256(pub + 1, 64, h);
  util_hex0x(h + 12, 20, raw);
  risk_eip55(raw, s->address);
  ok = true;
out:
  if (!ok && !err[0]) snprintf(err, err_len, "cannot build the secp256k1 key");
  OPENSSL_cleanse(seed, sizeof seed);
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
    int a = util_hexval(p[2 * i]), b = a < 0 ? -1 : util_hexval(p[2 * i + 1]);
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
  util_hex0x(priv, 32, text);
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
  /* NULL nonce function: RFC 6979, so one digest always gets one signature; the signature is
   * already low s */
  secp256k1_ecdsa_recoverable_signature rs;
  int recid = -1;
  if (!secp256k1_ecdsa_sign_recoverable(s->ctx, &rs, digest, s->seckey, NULL, NULL) ||
      !secp256k1_ecdsa_recoverable_signature_serialize_compact(s->ctx, sig, &recid, &rs))
    return false;
  /* 2 and 3 (R.x >= n, probability about 2^-127) have no Ethereum v */
  if (recid != 0 && recid != 1) return false;
  sig[64] = (uint8_t)(27 + recid);
  return true;
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
