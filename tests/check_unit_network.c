/* ctest-label: unit */
/* The sparkd.network/1 parser (chain/network.c): every shipped deploy/networks/ file parses;
 * a broken file is refused with each problem named by its JSON path (unknown fields at every
 * level, a bad address, a missing field, a wrong kind, psm3 without its SSR oracle); the liquidity
 * layer's venues: kinds read (sparklend, aave, erc4626 with its APR source, window and amount
 * (exit_assets for Maple), curve with its coins, defaults included), kinds refused with the reason,
 * a curve venue's coins (required, 2 to 8, distinct) and its asset (its pool), duplicate ids and addresses, bad ids,
 * options on the wrong kind, out-of-range windows, more venues than the bound. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/network.h"

static struct chain_snapshot_errors errs;

static bool parse(const char *text, struct chain_network *net) {
  memset(&errs, 0, sizeof errs);
  return chain_network_parse(text, strlen(text), net, &errs);
}

/* Returns true when one of the problems starts with `path: ` and contains `what`. */
static bool has_error(const char *path, const char *what) {
  size_t n = strlen(path);
  for (unsigned i = 0; i < errs.n; i++)
    if (strncmp(errs.msg[i], path, n) == 0 && errs.msg[i][n] == ':' && strstr(errs.msg[i] + n, what)) return true;
  return false;
}

static void dump(void) {
  for (unsigned i = 0; i < errs.n; i++)
    fprintf(stderr, "  %s\n", errs.msg[i]);
}

START_TEST(shipped_networks_parse) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/deploy/networks", SPARKD_SOURCE_DIR);
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "%s is missing", dir);
  struct dirent *e;
  unsigned files = 0;
  bool saw_ethereum = false;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct chain_network net;
    memset(&errs, 0, sizeof errs);
    bool ok = chain_network_load(path, &net, &errs);
    if (!ok) dump();
    ck_assert_msg(ok, "%s does not parse", path);
    ck_assert_uint_gt(net.chain_id, 0);
    ck_assert_msg(net.has_sparklend || net.n_vaults > 0, "%s names no contract", path);
    if (strcmp(e->d_name, "ethereum.json") == 0) {
      saw_ethereum = true;
      ck_assert_uint_eq(net.chain_id, 1);
      ck_assert(net.has_sparklend);
      /* the PoolAddressesProvider of SparkLend on Ethereum (Spark's address registry) */
      ck_assert_str_eq(net.pool_addresses_provider, "0x02c3ea4e34c0cbd694d2adfa2c690eecbc1793ee");
      /* the ALM proxy's venues: SparkLend and Aave aTokens and ERC-4626 vaults, sUSDS with its ssr */
      ck_assert_uint_ge(net.n_venues, 10);
      bool saw_susds = false;
      for (size_t i = 0; i < net.n_venues; i++)
        if (strcmp(net.venues[i].address, "0xa3931d71877c0e7a3148cb7eb4463524fec27fbd") == 0)
          saw_susds = net.venues[i].kind == CHAIN_NET_VENUE_ERC4626 && net.venues[i].apr_source == CHAIN_NET_APR_SSR;
      ck_assert(saw_susds);
      /* Maple's syrupUSDC read with convertToExitAssets; the Curve pools with their coins */
      unsigned maple = 0, curve = 0;
      for (size_t i = 0; i < net.n_venues; i++) {
        if (strcmp(net.venues[i].address, "0x80ac24aa929eaf5013f6436cda2a7ba190f5cc0b") == 0)
          maple += net.venues[i].amount == CHAIN_NET_AMOUNT_EXIT_ASSETS;
        if (net.venues[i].kind == CHAIN_NET_VENUE_CURVE)
          curve += net.venues[i].n_coins == 2 && strcmp(net.venues[i].asset, net.venues[i].address) == 0;
      }
      ck_assert_uint_eq(maple, 1);
      ck_assert_uint_ge(curve, 2);
    }
    if (strcmp(e->d_name, "base.json") == 0) {
      /* Base's ALM proxy (spark-address-registry src/Base.sol ALM_PROXY) and its venues */
      ck_assert(net.has_liquidity_layer);
      ck_assert_str_eq(net.alm_proxy, "0x2917956eff0b5eaf030abdb4ef4296df775009ca");
      ck_assert_uint_ge(net.n_venues, 2);
    }
    files++;
  }
  closedir(d);
  ck_assert_uint_ge(files, 6);
  ck_assert(saw_ethereum);
}
END_TEST

START_TEST(minimal_and_full) {
  struct chain_network net;
  ck_assert(parse("{\"format\":\"sparkd.network/1\",\"name\":\"anvil\",\"chain_id\":31337,\"start_block\":1,"
                  "\"sparklend\":{\"pool_addresses_provider\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\"}}",
                  &net));
  ck_assert_uint_eq(net.chain_id, 31337);
  ck_assert_uint_eq(net.start_block, 1);
  ck_assert_str_eq(net.pool_addresses_provider, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
  ck_assert_uint_eq(net.n_vaults, 0);
  bool ok = parse("{\"format\":\"sparkd.network/1\",\"name\":\"x\",\"chain_id\":1,\"start_block\":0,"
                  "\"savings_vaults\":[{\"kind\":\"sdai\",\"address\":\"0x83F20F44975D03b1b09e64809B757c47f942BEeA\","
                  "\"source\":\"s\"},"
                  "{\"kind\":\"psm3\",\"address\":\"0x1601843c5E9bC251A3272907010AFa41Fa18347E\","
                  "\"ssr_oracle\":\"0x65d946e533748A998B1f0E430803e39A6388f7a1\"}],"
                  "\"liquidity_layer\":{\"alm_proxy\":\"0x1601843c5E9bC251A3272907010AFa41Fa18347E\","
                  "\"rate_limits\":\"0x1601843c5E9bC251A3272907010AFa41Fa18347E\",\"keys\":[{\"key\":\"0x"
                  "AB00000000000000000000000000000000000000000000000000000000000001\",\"name\":\"LIMIT_USDS_MINT\"}]},"
                  "\"kill_switch\":{\"address\":\"0x1601843c5E9bC251A3272907010AFa41Fa18347E\"}}",
                  &net);
  if (!ok) dump();
  ck_assert(ok);
  ck_assert_uint_eq(net.n_vaults, 2);
  ck_assert_int_eq(net.vaults[0].kind, CHAIN_NET_SDAI);
  ck_assert_int_eq(net.vaults[1].kind, CHAIN_NET_PSM3);
  ck_assert(net.vaults[1].has_ssr_oracle);
  ck_assert_uint_eq(net.n_keys, 1);
  ck_assert_str_eq(net.keys[0].key, "0xab00000000000000000000000000000000000000000000000000000000000001");
  ck_assert(!net.keys[0].has_asset);
  ck_assert(net.has_liquidity_layer && net.has_kill_switch && !net.has_sparklend);
}
END_TEST

START_TEST(problems_are_named_by_path) {
  struct chain_network net;
  ck_assert(!parse("{\"format\":\"sparkd.network/2\",\"chain_id\":0,\"start_block\":-1,\"extra\":1,"
                   "\"sparklend\":{\"pool_addresses_provider\":\"0x12\",\"pool\":\"x\"},"
                   "\"savings_vaults\":[{\"kind\":\"pot\",\"address\":\"0x83F20F44975D03b1b09e64809B757c47f942BEeA\"},"
                   "{\"kind\":\"psm3\",\"address\":\"0x83F20F44975D03b1b09e64809B757c47f942BEeA\"},"
                   "{\"kind\":\"sdai\",\"address\":\"0x83F20F44975D03b1b09e64809B757c47f942BEeA\","
                   "\"ssr_oracle\":\"0x83F20F44975D03b1b09e64809B757c47f942BEeA\",\"typo\":true}],"
                   "\"liquidity_layer\":{\"alm_proxy\":\"0x83F20F44975D03b1b09e64809B757c47f942BEeA\","
                   "\"keys\":[{\"key\":\"0x12\",\"name\":\"A\"}]},\"kill_switch\":[]}",
                   &net));
  if (errs.n < 12) dump();
  ck_assert(has_error("$.format", "sparkd.network/1"));
  ck_assert(has_error("$.name", "required"));
  ck_assert(has_error("$.chain_id", "positive"));
  ck_assert(has_error("$.start_block", "non-negative"));
  ck_assert(has_error("$.extra", "unknown field"));
  ck_assert(has_error("$.sparklend.pool_addresses_provider", "address"));
  ck_assert(has_error("$.sparklend.pool", "unknown field"));
  ck_assert(has_error("$.savings_vaults[0].kind", "one of"));
  ck_assert(has_error("$.savings_vaults[1].ssr_oracle", "required"));
  ck_assert(has_error("$.savings_vaults[2].ssr_oracle", "only a psm3"));
  ck_assert(has_error("$.savings_vaults[2].typo", "unknown field"));
  ck_assert(has_error("$.liquidity_layer.rate_limits", "required"));
  ck_assert(has_error("$.liquidity_layer.keys[0].key", "64 hex"));
  ck_assert(has_error("$.kill_switch", "object"));
}
END_TEST

#define NET_HEAD                                                                                                       \
  "{\"format\":\"sparkd.network/1\",\"name\":\"x\",\"chain_id\":1,\"start_block\":0,\"liquidity_layer\":{"             \
  "\"alm_proxy\":\"0x1601843c5E9bC251A3272907010AFa41Fa18347E\","                                                      \
  "\"rate_limits\":\"0x7A5FD5cf045e010e62147F065cEAe59e5344b188\",\"venues\":["
#define USDC "\"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\""
#define USDS "\"0xdC035D45d973E3EC169d2276DDab16f1e407384F\""

START_TEST(venues_read) {
  struct chain_network net;
  bool ok =
      parse(NET_HEAD "{\"id\":\"sparklend-usdc\",\"kind\":\"sparklend\",\"address\":"
                     "\"0x377C3bd93f2a2984E1E7bE6A5C22c525eD4A4815\",\"asset\":" USDC
                     ",\"label\":\"SparkLend USDC\",\"source\":\"registry\"},"
                     "{\"id\":\"aave-core-usds\",\"kind\":\"aave\",\"address\":"
                     "\"0x32a6268f9Ba3642Dda7892aDd74f1D34469A4259\",\"asset\":" USDS ",\"label\":\"Aave USDS\"},"
                     "{\"id\":\"susds\",\"kind\":\"erc4626\",\"address\":"
                     "\"0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD\",\"asset\":" USDS
                     ",\"label\":\"sUSDS\",\"apr_source\":\"ssr\"},"
                     "{\"id\":\"morpho:usds_1\",\"kind\":\"erc4626\",\"address\":"
                     "\"0xe41a0583334f0dc4E023Acd0bFef3667F6FE0597\",\"asset\":" USDS ",\"label\":\"Morpho USDS\"},"
                     "{\"id\":\"morpho.usdc-bc\",\"kind\":\"erc4626\",\"address\":"
                     "\"0x56A76b428244a50513ec81e225a293d128fd581D\",\"asset\":" USDC
                     ",\"label\":\"Morpho USDC\",\"apr_source\":\"share_price\",\"apr_window_blocks\":1000000}"
                     "]}}",
            &net);
  if (!ok) dump();
  ck_assert(ok);
  ck_assert_uint_eq(net.n_venues, 5);
  ck_assert_str_eq(net.venues[0].id, "sparklend-usdc");
  ck_assert_int_eq(net.venues[0].kind, CHAIN_NET_VENUE_SPARKLEND);
  ck_assert_str_eq(net.venues[0].address, "0x377c3bd93f2a2984e1e7be6a5c22c525ed4a4815");
  ck_assert_str_eq(net.venues[0].asset, "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48");
  ck_assert_str_eq(net.venues[0].label, "SparkLend USDC");
  ck_assert_int_eq(net.venues[1].kind, CHAIN_NET_VENUE_AAVE);
  ck_assert_int_eq(net.venues[2].kind, CHAIN_NET_VENUE_ERC4626);
  ck_assert_int_eq(net.venues[2].apr_source, CHAIN_NET_APR_SSR);
  /* the defaults: a share-price APR over 100 blocks */
  ck_assert_int_eq(net.venues[3].apr_source, CHAIN_NET_APR_SHARE_PRICE);
  ck_assert_uint_eq(net.venues[3].apr_window_blocks, 100);
  ck_assert_uint_eq(net.venues[4].apr_window_blocks, 1000000);
  ck_assert_str_eq(chain_net_venue_kind_names[net.venues[4].kind], "erc4626");
  /* no venues: none read */
  ck_assert(parse(NET_HEAD "]}}", &net));
  ck_assert_uint_eq(net.n_venues, 0);
}
END_TEST

START_TEST(venues_refused_with_reasons) {
  struct chain_network net;
  ck_assert(!parse(
      NET_HEAD
      /* 0: a kind not read, with its reason */
      "{\"id\":\"a\",\"kind\":\"spark_vault\",\"address\":\"0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d\","
      "\"asset\":" USDC ",\"label\":\"spUSDC\"},"
      /* 1: an unknown kind, an id with a space, an empty label, a field nobody knows */
      "{\"id\":\"b c\",\"kind\":\"compound\",\"address\":\"0x0000000000000000000000000000000000000001\","
      "\"asset\":" USDC ",\"label\":\"\",\"pool\":\"x\"},"
      /* 2: a duplicate id and the address of venue 0 */
      "{\"id\":\"a\",\"kind\":\"aave\",\"address\":\"0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d\","
      "\"asset\":" USDC ",\"label\":\"x\",\"apr_source\":\"ssr\"},"
      /* 3: a window on an ssr vault, and a bad asset */
      "{\"id\":\"d\",\"kind\":\"erc4626\",\"address\":\"0x0000000000000000000000000000000000000002\","
      "\"asset\":\"0x12\",\"label\":\"x\",\"apr_source\":\"ssr\",\"apr_window_blocks\":10},"
      /* 4: a window of 0, an unknown apr source, no label */
      "{\"id\":\"e\",\"kind\":\"erc4626\",\"address\":\"0x0000000000000000000000000000000000000003\","
      "\"asset\":" USDC ",\"apr_window_blocks\":0},"
      "{\"id\":\"f\",\"kind\":\"erc4626\",\"address\":\"0x0000000000000000000000000000000000000004\","
      "\"asset\":" USDC ",\"label\":\"x\",\"apr_source\":\"dsr\",\"apr_window_blocks\":1000001},"
      /* 6: the other kinds not read, and no id */
      "{\"kind\":\"uniswap_v4\",\"address\":\"0x0000000000000000000000000000000000000005\",\"asset\":" USDC
      ",\"label\":\"x\"},"
      "{\"id\":\"g\",\"kind\":\"psm\",\"address\":\"0x0000000000000000000000000000000000000006\",\"asset\":" USDC
      ",\"label\":\"x\"},"
      "{\"id\":\"h\",\"kind\":\"cctp\",\"address\":\"0x0000000000000000000000000000000000000007\",\"asset\":" USDC
      ",\"label\":\"x\"},"
      "{\"id\":\"i\",\"kind\":\"maple\",\"address\":\"0x0000000000000000000000000000000000000008\",\"asset\":" USDC
      ",\"label\":\"x\"},"
      "7]}}",
      &net));
  if (errs.n < 20) dump();
  ck_assert(has_error("$.liquidity_layer.venues[0].kind", "spark_vault is not read by sparkd index"));
  ck_assert(has_error("$.liquidity_layer.venues[0].kind", "savings_vaults"));
  ck_assert(has_error("$.liquidity_layer.venues[1].kind", "must be one of sparklend, aave, erc4626, curve"));
  ck_assert(has_error("$.liquidity_layer.venues[1].id", "A-Z a-z 0-9"));
  ck_assert(has_error("$.liquidity_layer.venues[1].label", "must not be empty"));
  ck_assert(has_error("$.liquidity_layer.venues[1].pool", "unknown field"));
  ck_assert(has_error("$.liquidity_layer.venues[2].id", "duplicate of $.liquidity_layer.venues[0]"));
  ck_assert(has_error("$.liquidity_layer.venues[2].address", "duplicate of $.liquidity_layer.venues[0]"));
  ck_assert(has_error("$.liquidity_layer.venues[2].apr_source", "only an erc4626 venue"));
  ck_assert(has_error("$.liquidity_layer.venues[3].apr_window_blocks", "share_price"));
  ck_assert(has_error("$.liquidity_layer.venues[3].asset", "address"));
  ck_assert(has_error("$.liquidity_layer.venues[4].apr_window_blocks", "1 to 1000000"));
  ck_assert(has_error("$.liquidity_layer.venues[4].label", "required"));
  ck_assert(has_error("$.liquidity_layer.venues[5].apr_source", "share_price, ssr, vsr"));
  ck_assert(has_error("$.liquidity_layer.venues[5].apr_window_blocks", "1 to 1000000"));
  ck_assert(has_error("$.liquidity_layer.venues[6].id", "required"));
  ck_assert(has_error("$.liquidity_layer.venues[6].kind", "Uniswap v4 position"));
  ck_assert(has_error("$.liquidity_layer.venues[7].kind", "psm is not read"));
  ck_assert(has_error("$.liquidity_layer.venues[8].kind", "cctp is not read"));
  ck_assert(has_error("$.liquidity_layer.venues[9].kind", "kind erc4626"));
  ck_assert(has_error("$.liquidity_layer.venues[9].kind", "exit_assets"));
  ck_assert(has_error("$.liquidity_layer.venues[10]", "must be an object"));
  /* a list, not an object; and bounded */
  ck_assert(!parse("{\"format\":\"sparkd.network/1\",\"name\":\"x\",\"chain_id\":1,\"start_block\":0,"
                   "\"liquidity_layer\":{\"alm_proxy\":\"0x1601843c5E9bC251A3272907010AFa41Fa18347E\","
                   "\"rate_limits\":\"0x7A5FD5cf045e010e62147F065cEAe59e5344b188\",\"venues\":{}}}",
                   &net));
  ck_assert(has_error("$.liquidity_layer.venues", "must be an array"));
  char big[16384] = NET_HEAD;
  for (int i = 0; i <= CHAIN_NETWORK_MAX_VENUES; i++)
    strcat(big, i ? ",{}" : "{}");
  strcat(big, "]}}");
  ck_assert(!parse(big, &net));
  ck_assert(has_error("$.liquidity_layer.venues", "more than 64 venues"));
}
END_TEST

/* Spark's Curve pools on Ethereum (spark-address-registry src/Ethereum.sol CURVE_SUSDSUSDT) and a
 * Maple pool (SYRUP_USDC) */
#define CURVE_SUSDSUSDT "\"0x00836Fe54625BE242BcFA286207795405ca4fD10\""
#define SUSDS "\"0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD\""
#define USDT "\"0xdAC17F958D2ee523a2206206994597C13D831ec7\""

START_TEST(curve_and_exit_assets_read) {
  struct chain_network net;
  bool ok = parse(NET_HEAD "{\"id\":\"curve-susds-usdt\",\"kind\":\"curve\",\"address\":" CURVE_SUSDSUSDT
                           ",\"asset\":" CURVE_SUSDSUSDT ",\"coins\":[" SUSDS "," USDT "],\"label\":\"Curve\"},"
                           "{\"id\":\"curve-w\",\"kind\":\"curve\",\"address\":"
                           "\"0x0000000000000000000000000000000000000009\",\"asset\":"
                           "\"0x0000000000000000000000000000000000000009\",\"coins\":[" USDC "," USDT "," USDS
                           "],\"label\":\"Curve 3\",\"apr_window_blocks\":20},"
                           "{\"id\":\"maple-syrupusdc\",\"kind\":\"erc4626\",\"address\":"
                           "\"0x80ac24aA929eaF5013f6436cdA2a7ba190f5Cc0b\",\"asset\":" USDC
                           ",\"label\":\"Maple\",\"amount\":\"exit_assets\"},"
                           "{\"id\":\"morpho\",\"kind\":\"erc4626\",\"address\":"
                           "\"0x56A76b428244a50513ec81e225a293d128fd581D\",\"asset\":" USDC
                           ",\"label\":\"Morpho\",\"amount\":\"assets\"}"
                           "]}}",
                  &net);
  if (!ok) dump();
  ck_assert(ok);
  ck_assert_int_eq(net.venues[0].kind, CHAIN_NET_VENUE_CURVE);
  ck_assert_str_eq(chain_net_venue_kind_names[net.venues[0].kind], "curve");
  ck_assert_uint_eq(net.venues[0].n_coins, 2);
  ck_assert_str_eq(net.venues[0].coins[0], "0xa3931d71877c0e7a3148cb7eb4463524fec27fbd");
  ck_assert_str_eq(net.venues[0].coins[1], "0xdac17f958d2ee523a2206206994597c13d831ec7");
  /* a curve venue's APR is windowed: 100 blocks by default, or its own */
  ck_assert(chain_net_venue_windowed(&net.venues[0]));
  ck_assert_uint_eq(net.venues[0].apr_window_blocks, 100);
  ck_assert_uint_eq(net.venues[1].n_coins, 3);
  ck_assert_uint_eq(net.venues[1].apr_window_blocks, 20);
  ck_assert_int_eq(net.venues[2].amount, CHAIN_NET_AMOUNT_EXIT_ASSETS);
  ck_assert_int_eq(net.venues[3].amount, CHAIN_NET_AMOUNT_ASSETS);
  ck_assert_uint_eq(net.venues[3].n_coins, 0);
}
END_TEST

START_TEST(curve_and_amount_refused) {
  struct chain_network net;
  ck_assert(!parse(NET_HEAD
                   /* 0: a curve venue without coins, whose asset is not its pool */
                   "{\"id\":\"a\",\"kind\":\"curve\",\"address\":" CURVE_SUSDSUSDT ",\"asset\":" USDT
                   ",\"label\":\"x\"},"
                   /* 1: one coin; an apr source */
                   "{\"id\":\"b\",\"kind\":\"curve\",\"address\":\"0x0000000000000000000000000000000000000001\","
                   "\"asset\":\"0x0000000000000000000000000000000000000001\",\"coins\":[" USDT "],\"label\":\"x\","
                   "\"apr_source\":\"ssr\"},"
                   /* 2: nine coins */
                   "{\"id\":\"c\",\"kind\":\"curve\",\"address\":\"0x0000000000000000000000000000000000000002\","
                   "\"asset\":\"0x0000000000000000000000000000000000000002\",\"coins\":[" USDT "," USDT "," USDT
                   "," USDT "," USDT "," USDT "," USDT "," USDT "," USDT "],\"label\":\"x\"},"
                   /* 3: a coin twice, a bad coin, an amount option on a curve venue */
                   "{\"id\":\"d\",\"kind\":\"curve\",\"address\":\"0x0000000000000000000000000000000000000003\","
                   "\"asset\":\"0x0000000000000000000000000000000000000003\",\"coins\":[" USDT "," USDT ",\"0x12\"],"
                   "\"label\":\"x\",\"amount\":\"exit_assets\"},"
                   /* 4: coins on an aToken; an amount on an aToken */
                   "{\"id\":\"e\",\"kind\":\"aave\",\"address\":\"0x0000000000000000000000000000000000000004\","
                   "\"asset\":" USDC ",\"coins\":[" USDT "," USDC "],\"label\":\"x\",\"amount\":\"assets\"},"
                   /* 5: an unknown amount */
                   "{\"id\":\"f\",\"kind\":\"erc4626\",\"address\":\"0x0000000000000000000000000000000000000005\","
                   "\"asset\":" USDC ",\"label\":\"x\",\"amount\":\"max_withdraw\"}"
                   "]}}",
                   &net));
  if (errs.n < 10) dump();
  ck_assert(has_error("$.liquidity_layer.venues[0].coins", "required for a curve venue"));
  ck_assert(has_error("$.liquidity_layer.venues[0].asset", "must equal address"));
  ck_assert(has_error("$.liquidity_layer.venues[1].coins", "2 to 8 addresses"));
  ck_assert(has_error("$.liquidity_layer.venues[1].apr_source", "only an erc4626 venue"));
  ck_assert(has_error("$.liquidity_layer.venues[2].coins", "2 to 8 addresses"));
  ck_assert(has_error("$.liquidity_layer.venues[3].coins[1]", "duplicate of $.liquidity_layer.venues[3].coins[0]"));
  ck_assert(has_error("$.liquidity_layer.venues[3].coins[2]", "must be an address"));
  ck_assert(has_error("$.liquidity_layer.venues[3].amount", "only an erc4626 venue"));
  ck_assert(has_error("$.liquidity_layer.venues[4].coins", "only a curve venue"));
  ck_assert(has_error("$.liquidity_layer.venues[4].amount", "only an erc4626 venue"));
  ck_assert(has_error("$.liquidity_layer.venues[5].amount", "assets, exit_assets"));
}
END_TEST

START_TEST(not_json_or_duplicates) {
  struct chain_network net;
  ck_assert(!parse("{\"format\":", &net));
  ck_assert(has_error("$", "not valid JSON"));
  ck_assert(!parse("{\"format\":\"sparkd.network/1\",\"format\":\"sparkd.network/1\",\"name\":\"a\","
                   "\"chain_id\":1,\"start_block\":0}",
                   &net));
  ck_assert(has_error("$", "not valid JSON"));
  ck_assert(!parse("[]", &net));
  memset(&errs, 0, sizeof errs);
  ck_assert(!chain_network_load("/nonexistent/network.json", &net, &errs));
  ck_assert(has_error("$", "/nonexistent/network.json"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("unit_network");
  TCase *tc = tcase_create("network");
  tcase_add_test(tc, shipped_networks_parse);
  tcase_add_test(tc, minimal_and_full);
  tcase_add_test(tc, problems_are_named_by_path);
  tcase_add_test(tc, not_json_or_duplicates);
  tcase_add_test(tc, venues_read);
  tcase_add_test(tc, venues_refused_with_reasons);
  tcase_add_test(tc, curve_and_exit_assets_read);
  tcase_add_test(tc, curve_and_amount_refused);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
