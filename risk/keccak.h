/* Ethereum's keccak-256: Keccak-f[1600], rate 136 bytes, original Keccak padding
 * (0x01 ... 0x80), NOT the SHA3-256 padding (0x06). Used for rate-limit keys. */
#ifndef SPARKD_RISK_KECCAK_H
#define SPARKD_RISK_KECCAK_H

#include <stddef.h>
#include <stdint.h>

/* Writes keccak256(data[0..len)) into out. */
void risk_keccak256(const uint8_t *data, size_t len, uint8_t out[32]);

#endif
