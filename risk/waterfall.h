/* The loss waterfall (spec risk-engine §4.3): a loss runs through ordered layers, each taking at
 * most its capacity (the sum of its holders'), split pro rata over the holders inside a layer by
 * largest remainder, so every sum is exact to the unit. Pure: no I/O, no globals, no heap. */
#ifndef SPARKD_RISK_WATERFALL_H
#define SPARKD_RISK_WATERFALL_H

#include <stdbool.h>
#include <stddef.h>

#include "risk/u256.h"

#define RISK_WF_MAX_LAYERS 16
#define RISK_WF_MAX_HOLDERS 16

struct risk_wf_holder {
  u256 capacity; /* input */
  u256 absorbed; /* output */
};
struct risk_wf_layer {
  size_t n_holders; /* input: 1 .. RISK_WF_MAX_HOLDERS */
  struct risk_wf_holder holders[RISK_WF_MAX_HOLDERS];
  u256 capacity;  /* output: the sum of the holders' */
  u256 absorbed;  /* output */
  bool exhausted; /* output: absorbed == capacity and something reached this layer */
};

/* Runs loss through layers[0..n) in order; *unabsorbed is what no layer could take. Returns
 * RISK_OK, RISK_INVALID for a bad count, or RISK_OVERFLOW when a capacity sum or take * capacity passes
 * 2^256-1 (amounts below 2^128 never do). */
risk_err risk_waterfall_apply(u256 loss, struct risk_wf_layer *layers, size_t n, u256 *unabsorbed);

#endif
