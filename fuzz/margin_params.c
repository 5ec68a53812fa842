/* The margin parameters document (PUT /v1/admin/margin-params, and the version in force read back
 * by every margin computation): partner_margin_config_parse on any JSON. An acceptance must be
 * parameters the engine takes (both consistency checks pass, a one-leg book on every underlying
 * and venue computes, every name is a terminated string), and reading the accepted document
 * again, as stored, gives the same parameters; a refusal names a field. */
#include <jansson.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "partner/margin.h"
#include "risk/margin.h"

static struct partner_margin_config cfg, again;

int fuzz_margin_params(const uint8_t *data, size_t size) {
  json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
  if (!j) return 0;
  char field[96];
  memset(&cfg, 0xA5, sizeof cfg); /* whatever the parser leaves unset shows as garbage below */
  memset(field, 'x', sizeof field);
  const char *bad = partner_margin_config_parse(j, &cfg, field, sizeof field);
  if (bad) {
    FUZZ_CHECK(memchr(bad, 0, sizeof field) != NULL && bad[0] != 0, "a refusal names no field");
    json_decref(j);
    return 0;
  }
  FUZZ_CHECK(risk_margin_params_check(&cfg.p) == NULL, "accepted parameters fail the engine's check at %s",
             risk_margin_params_check(&cfg.p));
  FUZZ_CHECK(risk_margin_rate_params_check(&cfg.rate) == NULL, "accepted rate parameters fail at %s",
             risk_margin_rate_params_check(&cfg.rate));
  for (size_t k = 0; k < cfg.p.n_underlyings; k++)
    FUZZ_CHECK(memchr(cfg.symbol[k], 0, sizeof cfg.symbol[k]) && memchr(cfg.asset[k], 0, sizeof cfg.asset[k]),
               "underlying %zu has an unterminated name", k);
  for (size_t v = 0; v < cfg.p.n_venues; v++)
    FUZZ_CHECK(memchr(cfg.venue[v], 0, sizeof cfg.venue[v]), "venue %zu has an unterminated name", v);
  FUZZ_CHECK(cfg.ncash <= PARTNER_MARGIN_MAX_CASH, "%zu cash assets", cfg.ncash);

  /* one unit of every underlying (and of cash) on every venue, at $1,000 */
  struct risk_margin_leg legs[RISK_MARGIN_MAX_LEGS];
  int64_t prices[RISK_MARGIN_MAX_UNDERLYINGS];
  uint64_t ts[RISK_MARGIN_MAX_UNDERLYINGS];
  for (size_t k = 0; k < RISK_MARGIN_MAX_UNDERLYINGS; k++) {
    prices[k] = 1000 * RISK_MARGIN_E8;
    ts[k] = 1767225600u;
  }
  size_t n = 0;
  for (size_t v = 0; v < cfg.p.n_venues && n < RISK_MARGIN_MAX_LEGS; v++)
    for (size_t k = 0; k <= cfg.p.n_underlyings && n < RISK_MARGIN_MAX_LEGS; k++)
      legs[n++] = (struct risk_margin_leg){.kind = RISK_MARGIN_SPOT,
                                           .venue = (uint16_t)v,
                                           .underlying = k == cfg.p.n_underlyings ? RISK_MARGIN_CASH : (uint16_t)k,
                                           .qty = RISK_MARGIN_E8,
                                           .as_of = 1767225600u};
  struct risk_margin_result r;
  risk_err e = risk_margin_compute(&r, legs, n, prices, ts, &cfg.p, NULL, 1767225600u);
  FUZZ_CHECK(e == RISK_OK, "accepted parameters cannot margin a one-unit book (%d)", (int)e);
  FUZZ_CHECK(r.mm >= 0 && r.im >= r.mm, "MM %lld, IM %lld", (long long)r.mm, (long long)r.im);

  /* what is stored is the compact dump; it reads back to the same parameters */
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  FUZZ_CHECK(text != NULL, "an accepted document does not dump");
  json_t *k2 = json_loads(text, 0, NULL);
  free(text);
  FUZZ_CHECK(k2 != NULL, "the dump does not load");
  memset(&again, 0xA5, sizeof again);
  FUZZ_CHECK(partner_margin_config_parse(k2, &again, field, sizeof field) == NULL, "the dump is refused at %s", field);
  json_decref(k2);
  FUZZ_CHECK(memcmp(&cfg.p, &again.p, sizeof cfg.p) == 0 && memcmp(&cfg.rate, &again.rate, sizeof cfg.rate) == 0,
             "the stored document reads back differently");
  return 0;
}
