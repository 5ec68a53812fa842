/* sparkd's libFuzzer targets (fuzz/README.md). Each is a function of one input that returns 0 and
 * aborts, naming the broken property, when the code under test does something it must not (the
 * sanitizers catch the rest). The same functions are the fuzz executables' LLVMFuzzerTestOneInput
 * (fuzz/entry.c) and what tests/check_unit_fuzz.c feeds the kept corpus and every past crash. */
#ifndef SPARKD_FUZZ_FUZZ_H
#define SPARKD_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The request head (raw path, framing, Host) and routing: service/head.h, service/router.h. */
int fuzz_head(const uint8_t *data, size_t size);
/* Every JSON body reader: the first byte picks a route's spec (handlers/bodies.h), the rest is the
 * body; the scanner, jansson and the default path must agree. */
int fuzz_body(const uint8_t *data, size_t size);
/* The sparkd.snapshot/1 parser and validator, and the NDJSON splitter (chain/snapshot.h). */
int fuzz_snapshot(const uint8_t *data, size_t size);
/* Decimal uint256 parsing and writing (risk/u256.h), against a digit-by-digit reading. */
int fuzz_u256(const uint8_t *data, size_t size);
/* The margin parameters document (partner_margin_config_parse): accepted means usable. */
int fuzz_margin_params(const uint8_t *data, size_t size);

/* Aborts with the broken property when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                                                          \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                 \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fputc('\n', stderr);                                                                                             \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

#endif
