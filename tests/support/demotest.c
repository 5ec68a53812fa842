#include "demotest.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

json_t *th_last_snapshot(const char *path) {
  FILE *fp = fopen(path, "r");
  if (!fp) return NULL;
  char *line = NULL, *last = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, fp) > 0) {
    free(last);
    last = strdup(line);
  }
  free(line);
  fclose(fp);
  json_error_t e;
  json_t *snap = last ? json_loads(last, 0, &e) : NULL;
  free(last);
  return snap;
}

int th_write_price_move(json_t *snap, const char *asset, unsigned num, unsigned den, int64_t number, const char *path) {
  json_t *prices = json_object_get(snap, "prices");
  bool moved = false;
  for (size_t i = 0; i < json_array_size(prices); i++) {
    json_t *p = json_array_get(prices, i);
    if (strcasecmp(json_string_value(json_object_get(p, "asset")), asset) != 0) continue;
    unsigned long long v = strtoull(json_string_value(json_object_get(p, "price")), NULL, 10);
    char s[32];
    snprintf(s, sizeof s, "%llu", v / den * num);
    json_object_set_new(p, "price", json_string(s));
    moved = true;
  }
  if (!moved) return -1;
  json_t *blk = json_object_get(snap, "block");
  json_t *d =
      json_pack("{s:s, s:i, s:{s:I, s:s, s:O}, s:O}", "format", "sparkd.snapshot/1", "chain_id", 1, "block", "number",
                (json_int_t)number, "hash", "0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "timestamp", json_object_get(blk, "timestamp"), "prices", prices);
  if (!d) return -1;
  int rc = json_dump_file(d, path, 0) == 0 ? 0 : -1;
  json_decref(d);
  return rc;
}
