/* The Solidity ABI pieces the indexer needs: function selectors (keccak-256 of the signature),
 * calldata with static arguments, and reading words, addresses, strings and address arrays from
 * return data. Every reader checks bounds: a short or malformed answer is an error, never a read
 * past the end. */
#ifndef SPARKD_CHAIN_ABI_H
#define SPARKD_CHAIN_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"

enum chain_abi_kind { CHAIN_ABI_ADDRESS, CHAIN_ABI_UINT, CHAIN_ABI_BYTES32 };
struct chain_abi_arg {
  enum chain_abi_kind kind;
  const char *address; /* CHAIN_ABI_ADDRESS / CHAIN_ABI_BYTES32: 0x-hex text */
  u256 value;          /* CHAIN_ABI_UINT */
};

/* Writes the 4-byte selector of a canonical signature such as "balanceOf(address)". */
void chain_abi_selector(const char *signature, uint8_t out[4]);
/* Writes "0x" + selector + the encoded static arguments and a NUL into out (cap bytes); returns
 * false when an argument is malformed or out is too small. */
bool chain_abi_encode(const char *signature, const struct chain_abi_arg *args, size_t n, char *out, size_t cap);
/* Returns the 32-byte topic of an event signature as "0x" + 64 hex (out: 67 bytes). */
void chain_abi_topic(const char *signature, char out[67]);

/* Decoded return data. */
struct chain_abi_data {
  uint8_t *b;
  size_t n;
};
/* Returns true with d holding the bytes of "0x..." hex (freed by chain_abi_data_free). */
bool chain_abi_from_hex(const char *hex, struct chain_abi_data *d);
/* Frees d's bytes. */
void chain_abi_data_free(struct chain_abi_data *d);
/* Returns true with the 32-byte word at base + 32 * i as an unsigned integer. */
bool chain_abi_word(const struct chain_abi_data *d, size_t base, size_t i, u256 *out);
/* Returns true when the word fits in bits (<= 64) and writes it to *out. */
bool chain_abi_uint(const struct chain_abi_data *d, size_t base, size_t i, unsigned bits, uint64_t *out);
/* Returns true when the word is an address (upper 12 bytes zero); writes its lowercase text. */
bool chain_abi_address(const struct chain_abi_data *d, size_t base, size_t i, char out[43]);
/* Returns true with *out the offset (relative to base) held by word i, resolved to absolute. */
bool chain_abi_offset(const struct chain_abi_data *d, size_t base, size_t i, size_t *out);
/* Returns true with the string (or bytes) whose offset word i holds, NUL-terminated in out (cap);
 * false when malformed, too long, or holding a NUL. */
bool chain_abi_string(const struct chain_abi_data *d, size_t base, size_t i, char *out, size_t cap);
/* Returns true with a malloc'd array of the addresses (*count) of the address[] at word i. */
bool chain_abi_address_array(const struct chain_abi_data *d, size_t base, size_t i, char (**out)[43], size_t *count);

#endif
