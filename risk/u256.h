/* 256-bit unsigned integers for the engine: four 64-bit limbs, little-endian
 * (w[0] least significant), no heap. Every operation that the EVM would revert
 * on (overflow, underflow, division by zero) returns an error instead of
 * wrapping: the chain reverts, and we must never answer with a wrapped value. */
#ifndef SPARKD_RISK_U256_H
#define SPARKD_RISK_U256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t w[4];
} u256;

/* Result codes shared by every risk_ function. 0 is success. */
typedef enum {
  RISK_OK = 0,
  RISK_OVERFLOW,    /* result does not fit the width (the chain reverts) */
  RISK_UNDERFLOW,   /* a - b with b > a */
  RISK_DIV_BY_ZERO, /* x / 0 */
  RISK_PARSE,       /* malformed decimal or hex text */
  RISK_INVALID,     /* argument outside the function's domain */
} risk_err;

/* Returns a short lowercase name for a risk_err ("overflow", ...). */
const char *risk_err_name(risk_err e);

#define U256_ZERO ((u256){{0, 0, 0, 0}})
#define U256_ONE ((u256){{1, 0, 0, 0}})
#define U256_MAX ((u256){{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}})

/* Returns the u256 equal to v. */
static inline u256 u256_from_u64(uint64_t v) { return (u256){{v, 0, 0, 0}}; }
/* Returns true when a == 0. */
static inline bool u256_is_zero(const u256 a) { return (a.w[0] | a.w[1] | a.w[2] | a.w[3]) == 0; }
/* Returns true when a fits in 64 bits (and stores it in *out when out is not NULL). */
bool u256_to_u64(u256 a, uint64_t *out);

/* Returns -1, 0 or 1 as a <, ==, > b. */
int u256_cmp(u256 a, u256 b);
static inline bool u256_eq(u256 a, u256 b) { return u256_cmp(a, b) == 0; }
static inline bool u256_lt(u256 a, u256 b) { return u256_cmp(a, b) < 0; }
static inline bool u256_le(u256 a, u256 b) { return u256_cmp(a, b) <= 0; }
static inline bool u256_gt(u256 a, u256 b) { return u256_cmp(a, b) > 0; }
static inline bool u256_ge(u256 a, u256 b) { return u256_cmp(a, b) >= 0; }
/* Returns the smaller / larger of a and b. */
static inline u256 u256_min(u256 a, u256 b) { return u256_lt(a, b) ? a : b; }
static inline u256 u256_max(u256 a, u256 b) { return u256_gt(a, b) ? a : b; }

/* Checked arithmetic: each returns RISK_OK and writes *r, or an error and leaves *r untouched. */
risk_err u256_add(u256 *r, u256 a, u256 b);               /* RISK_OVERFLOW */
risk_err u256_sub(u256 *r, u256 a, u256 b);               /* RISK_UNDERFLOW */
risk_err u256_mul(u256 *r, u256 a, u256 b);               /* RISK_OVERFLOW */
risk_err u256_divmod(u256 *q, u256 *rem, u256 a, u256 b); /* q or rem may be NULL; RISK_DIV_BY_ZERO */
risk_err u256_div(u256 *q, u256 a, u256 b);               /* floor(a / b) */
/* floor(a * b / d) with a 512-bit intermediate; RISK_OVERFLOW if the quotient exceeds 256 bits. */
risk_err u256_muldiv(u256 *r, u256 a, u256 b, u256 d);
/* ceil(a * b / d) with a 512-bit intermediate. */
risk_err u256_muldiv_up(u256 *r, u256 a, u256 b, u256 d);

/* Unchecked helpers (cannot fail). */
u256 u256_shl(u256 a, unsigned n); /* bits shifted out are lost; n >= 256 gives 0 */
u256 u256_shr(u256 a, unsigned n);
/* Returns the number of significant bits (0 for 0). */
unsigned u256_bits(u256 a);
/* Wrapping ops for code that has already proven no overflow (e.g. hot loops). */
u256 u256_add_wrap(u256 a, u256 b);
u256 u256_sub_wrap(u256 a, u256 b);

/* 10^n for n <= 77; RISK_OVERFLOW above. */
risk_err u256_pow10(u256 *r, unsigned n);

/* Decimal text: digits only, no sign, no spaces, no leading '+', at most 78 digits, value <= 2^256-1.
 * Leading zeros are accepted. len is the text length (text need not be NUL-terminated).
 * Returns RISK_PARSE for malformed text, RISK_OVERFLOW for a value above 2^256-1. */
risk_err u256_from_dec(u256 *r, const char *text, size_t len);
/* Returns the value of hex digit c (either case), or -1 when c is not one. */
int risk_hexval(char c);
/* Returns true when text (NUL-terminated, may be NULL) is a decimal integer below 2^256, stored in *out. */
bool u256_parse_dec(const char *text, u256 *out);
/* Writes the decimal form and a NUL into buf (U256_DEC_MAX bytes suffice); returns its length. */
#define U256_DEC_MAX 80
size_t u256_to_dec(u256 a, char *buf);
/* Fixed-point decimal: a / 10^decimals with exactly `decimals` fractional digits ("1500.000000"),
 * no fraction part when decimals == 0 (decimals above 79 are treated as 79). buf needs U256_DEC_MAX + 2
 * bytes. Returns its length. */
size_t u256_to_fixed(u256 a, unsigned decimals, char *buf);
/* The same for a value already written in decimal: the n digits of digits (as u256_to_dec writes
 * them, NUL-terminated). buf needs U256_DEC_MAX + 2 bytes. Returns its length. */
size_t u256_dec_to_fixed(const char *digits, size_t n, unsigned decimals, char *buf);
/* Hex text with optional 0x prefix, 1..64 hex digits, any case. */
risk_err u256_from_hex(u256 *r, const char *text, size_t len);
/* Writes "0x" + minimal lowercase hex ("0x0" for zero) and a NUL; returns its length. */
size_t u256_to_hex(u256 a, char *buf);

/* 32-byte big-endian conversions (EVM word encoding). */
void u256_to_be32(u256 a, uint8_t out[32]);
u256 u256_from_be32(const uint8_t in[32]);

#endif
