/* Signing of LTV records (secp256k1 ECDSA, recoverable, low-s, as Ethereum's ecrecover expects;
 * libsecp256k1 with RFC 6979 nonces) and HMAC-SHA256 for webhooks (OpenSSL). The signing key lives
 * in a file holding "0x" + 64 hex digits (the private scalar) and a newline, mode 0600
 * (SPARKD_SIGNING_KEY_FILE, made by `sparkd keys signing-create FILE`). See docs/ltv-signature.md. */
#ifndef SPARKD_PARTNER_SIGNER_H
#define SPARKD_PARTNER_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct partner_signer;

/* Returns a signer loaded from the key file at path, or NULL with a one-line reason in err
 * (unreadable, malformed, out of range, readable by group or others). */
struct partner_signer *partner_signer_load(const char *path, char *err, size_t err_len);
/* Returns true after writing a fresh random key to path (created exclusively, mode 0600) and its
 * EIP-55 address into addr_out; false with a reason in err. */
bool partner_signer_create_file(const char *path, char addr_out[43], char *err, size_t err_len);
/* Frees a signer (NULL is fine). */
void partner_signer_free(struct partner_signer *s);
/* Returns the signer's EIP-55 address ("0x..." 42 characters), owned by the signer. */
const char *partner_signer_address(const struct partner_signer *s);
/* Returns true after writing the 65-byte Ethereum signature r || s || v (s <= n/2, v 27 or 28) of
 * the 32-byte digest into sig; the same key and digest always give the same signature (RFC 6979).
 * Thread-safe. */
bool partner_signer_sign(const struct partner_signer *s, const uint8_t digest[32], uint8_t sig[65]);

/* Writes HMAC-SHA256(key, a || b) as 64 lowercase hex digits and a NUL into out. */
void partner_hmac_sha256_hex(const void *key, size_t key_len, const void *a, size_t a_len, const void *b, size_t b_len,
                             char out[65]);

#endif
