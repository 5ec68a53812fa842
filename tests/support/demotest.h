/* Demo-data test support: the reference health factors computed in SQL numeric from the stored
 * positions (independent of the engine), the last snapshot of a demo NDJSON file, and a
 * prices-only block written from it.
 *
 *   json_t *snap = th_last_snapshot(demo_file);      // the demo data's last block
 *   th_write_price_move(snap, WETH, 4, 5, block + 1, price_file);  // WETH at 4/5, nothing else
 *   th_sparkd_import(dburl, price_file);
 */
#ifndef SPARKD_TESTS_DEMOTEST_H
#define SPARKD_TESTS_DEMOTEST_H
#include <jansson.h>
#include <stdint.h>

/* Common table expressions ending in h: per account of chain 1, c (collateral, base currency), d
 * (debt), cas / das (the assets held as collateral / borrowed, comma-separated, NULL if none) and
 * hf (WAD; 2^256-1 without debt, 0 without collateral), with Aave's roundings: rayMul to balances,
 * the average liquidation threshold floored to whole bps, then percentMul and wadDiv. A query
 * appends its own SELECT. */
#define TH_HF_SQL_CTE                                                                                                  \
  "WITH p AS ("                                                                                                        \
  "  SELECT po.account, a.emode_category AS ucat, r.emode_category AS rcat, r.liquidation_threshold AS lt,"            \
  "   e.liquidation_threshold AS elt, po.collateral, pr.price, 10::numeric ^ r.decimals AS unit, po.asset,"            \
  "   po.scaled_a_token_balance AS sa, po.scaled_variable_debt AS sd,"                                                 \
  "   div(po.scaled_a_token_balance * r.liquidity_index + 5 * 10::numeric ^ 26, 10::numeric ^ 27) AS bal,"             \
  "   div(po.scaled_variable_debt * r.variable_borrow_index + 5 * 10::numeric ^ 26, 10::numeric ^ 27) AS debt"         \
  "  FROM positions po JOIN accounts a ON a.chain_id = po.chain_id AND a.address = po.account"                         \
  "  JOIN reserves r ON r.chain_id = po.chain_id AND r.asset = po.asset"                                               \
  "  JOIN prices pr ON pr.chain_id = po.chain_id AND pr.asset = po.asset"                                              \
  "  LEFT JOIN emode_categories e ON e.chain_id = po.chain_id AND e.category_id = a.emode_category"                    \
  "  WHERE po.chain_id = 1),"                                                                                          \
  " q AS (SELECT account, CASE WHEN collateral AND lt <> 0 THEN div(bal * price, unit) ELSE 0 END AS coll,"            \
  "   CASE WHEN ucat <> 0 AND rcat = ucat THEN elt ELSE lt END AS lt, div(debt * price, unit) AS debt,"                \
  "   CASE WHEN collateral AND sa > 0 THEN asset END AS ca, CASE WHEN sd > 0 THEN asset END AS da FROM p),"            \
  " s AS (SELECT account, sum(coll) AS c, sum(coll * lt) AS cl, sum(debt) AS d, string_agg(ca, ',') AS cas,"           \
  "   string_agg(da, ',') AS das FROM q GROUP BY account),"                                                            \
  " h AS (SELECT account, c, d, cas, das, CASE WHEN d = 0 THEN (2::numeric ^ 256 - 1)::numeric(78,0)"                  \
  "   WHEN c = 0 THEN 0 ELSE div(div(c * div(cl, c) + 5000, 10000) * 10::numeric ^ 18 + div(d, 2), d) END AS hf"       \
  "   FROM s)"

/* The last line of an NDJSON snapshot file, parsed; NULL if the file cannot be read or parsed. */
json_t *th_last_snapshot(const char *path);

/* Multiplies asset's price in snap's "prices" by num/den (in place; floor of price/den, times num)
 * and writes to path a prices-only snapshot of chain 1 at block number, with snap's timestamp and a fixed
 * hash. Returns 0, or -1 when the asset has no price or the file cannot be written. */
int th_write_price_move(json_t *snap, const char *asset, unsigned num, unsigned den, int64_t number, const char *path);

#endif
