/* Growable arrays: the one place that doubles a buffer's capacity. */
#ifndef SPARKD_UTIL_VEC_H
#define SPARKD_UTIL_VEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Returns true when the array at *pv (elements of elem bytes, *cap of them allocated) holds at
 * least need elements, doubling it (first: the capacity of an empty one) until it does; false
 * when the memory cannot be had, the array then unchanged. */
static inline bool util_vec_reserve(void *pv, size_t *cap, size_t need, size_t elem, size_t first) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap : first ? first : 1;
  while (c < need) {
    if (c > SIZE_MAX / 2) return false;
    c *= 2;
  }
  if (c > SIZE_MAX / elem) return false;
  void *old, *p;
  memcpy(&old, pv, sizeof old);
  if (!(p = realloc(old, c * elem))) return false;
  memcpy(pv, &p, sizeof p);
  *cap = c;
  return true;
}

/* util_vec_reserve for an array held in pointer v with capacity cap: room for element n. */
#define UTIL_VEC_RESERVE(v, n, cap, first) util_vec_reserve(&(v), &(cap), (n) + 1, sizeof *(v), (first))
/* util_vec_reserve for an array held in pointer v with capacity cap: room for need elements. */
#define UTIL_VEC_RESERVE_N(v, need, cap, first) util_vec_reserve(&(v), &(cap), (need), sizeof *(v), (first))

#endif
