/* Growable arrays: the one place that doubles a buffer's capacity. */
#ifndef SPARKD_UTIL_VEC_H
#define SPARKD_UTIL_VEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Returns true when the array at *pv (elements of elem bytes, *cap of them allocated) has room for
 * element n, doubling it (first: the capacity of an empty one) when it has not; false when the
 * memory cannot be had, the array then unchanged. */
static inline bool util_vec_reserve(void *pv, size_t *cap, size_t n, size_t elem, size_t first) {
  if (n < *cap) return true;
  size_t c = *cap ? *cap * 2 : first;
  if (c <= n) c = n + 1;
  if (c > SIZE_MAX / elem) return false;
  void *old, *p;
  memcpy(&old, pv, sizeof old);
  if (!(p = realloc(old, c * elem))) return false;
  memcpy(pv, &p, sizeof p);
  *cap = c;
  return true;
}

/* util_vec_reserve for an array held in pointer v with capacity cap: room for element n. */
#define UTIL_VEC_RESERVE(v, n, cap, first) util_vec_reserve(&(v), &(cap), (n), sizeof *(v), (first))

#endif
