/* sparkd demo-data generator (docs/demo-data.md): SparkLend Ethereum's real configuration
 * (spec protocol-math §4.1-4.6, §1.6) with synthetic accounts and a 6-hourly history, written
 * as sparkd.snapshot/1 NDJSON. Every on-chain figure (bitmap, indexes, rates, scaled
 * balances, health factors, liquidations, chi, rate limits, keys) comes from the engine in
 * risk/. The PRNG is xoshiro256** seeded by splitmix64; no floating point anywhere, so the
 * output is byte-identical for a seed on any platform. */
#include "cli/demo.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "risk/account.h"
#include "risk/irm.h"
#include "risk/keccak.h"
#include "risk/liquidation.h"
#include "risk/ratelimit.h"
#include "risk/reserve.h"
#include "risk/savings.h"
#include "risk/wadray.h"
#include "util/hex.h"
#include "views/jsonw.h"

/* ------------------------------------------------------------------------------------------
 * Real-world tables. Addresses in mixed case are EIP-55 literals from the Spark address
 * registry / token contracts and are checked against their checksum at start-up; addresses
 * starting 0xdede0000 are synthetic (docs/demo-data.md lists them). */

#define ZERO_ADDR "0x0000000000000000000000000000000000000000"

enum { PG_USD, PG_ETH, PG_BTC, PG_GNO, PG_SDAI, PG_SUSDS };

/* Reserve ids follow SparkLend's listing order. */
enum {
  R_DAI,
  R_SDAI,
  R_USDC,
  R_WETH,
  R_WSTETH,
  R_WBTC,
  R_GNO,
  R_RETH,
  R_USDT,
  R_WEETH,
  R_CBBTC,
  R_SUSDS,
  R_USDS,
  R_LBTC,
  R_TBTC,
  R_EZETH,
  R_RSETH,
  R_PYUSD,
  N_RES,
  A_USDE = N_RES,
  A_SUSDE,
  N_ASSETS
};

struct asset_def {
  const char *symbol, *name, *address, *a_token, *debt_token, *price_source;
  unsigned decimals;
  int irm; /* index into irms[] */
  uint32_t ltv, lt, lb, fee, rf, emode;
  bool frozen, borrowing, iso_borrowable, flashloan;
  uint64_t debt_ceiling;                                   /* 2-decimal USD */
  uint64_t supply_max, supply_gap, borrow_max, borrow_gap; /* cap automator; max 0 = fixed caps */
  uint64_t supply_cap, borrow_cap;                         /* fixed caps when no automator */
  int price_group;
  uint64_t ratio_ppm;        /* price / group price at the start (ppm); LST growth below */
  uint32_t ratio_growth_bps; /* yearly growth of the exchange rate */
  uint32_t li_ppm, bi_ppm;   /* starting liquidity / borrow index - 1, in ppm (guessed) */
  uint32_t target_util_bps;  /* utilization the liquidity layer / suppliers aim at */
};

/* clang-format off: the tables read best one row per line */
// clang-format off
#define FIXED_ORACLE "0x42a03F81dd8A1cEcD746dc262e4d1CD9fD39F777"
#define CAP36 68719476735ull

static const struct asset_def assets[N_ASSETS] = {
    [R_DAI] = {"DAI", "Dai Stablecoin", "0x6B175474E89094C44Da98b954EedeAC495271d0F",
               "0x4DEDf26112B3Ec8eC46e7E31EA5e123490B05B8B", "0xf705d2B7e92B3F38e6ae7afaDAA2fEE110fE5914",
               FIXED_ORACLE, 18, 0, 0, 1, 10450, 1000, 1000, 0, false, true, false, true, 0, 0, 0, 0, 0, 0, 0,
               PG_USD, 1000000, 0, 142000, 215000, 7500},
    [R_SDAI] = {"sDAI", "Savings Dai", "0x83F20F44975D03b1b09e64809B757c47f942BEeA",
                "0x78f897F0fE2d3B5690EbAe7f19862DEacedF10a7", "0xaBc57081C04D921388240393ec4088Aa47c6832B",
                "0xdede000000000000000000000000000000000102", 18, 10, 0, 8000, 10500, 1000, 1000, 2, false, false,
                false, false, 0, 0, 0, 0, 0, 1, 0, PG_SDAI, 1000000, 0, 0, 0, 0},
    [R_USDC] = {"USDC", "USD Coin", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
                "0x377C3bd93f2a2984E1E7bE6A5C22c525eD4A4815", "0x7B70D04099CB9cfb1Db7B6820baDAfB4C5C70A67",
                FIXED_ORACLE, 6, 1, 0, 0, 0, 0, 100, 2, false, true, false, true, 0, 0, 0, 0, 0, CAP36, CAP36,
                PG_USD, 1000000, 0, 98000, 131000, 9000},
    [R_WETH] = {"WETH", "Wrapped Ether", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                "0x59cD1C87501baa753d0B5B5Ab5D8416A45cD71DB", "0x2e7576042566f8D6990e07A1B61Ad1efd86Ae70d",
                "0xdede000000000000000000000000000000000103", 18, 4, 8500, 8600, 10500, 1000, 500, 1, false, true,
                false, true, 0, 2000000, 150000, 1000000, 20000, 0, 0, PG_ETH, 1000000, 0, 41000, 63000, 8500},
    [R_WSTETH] = {"wstETH", "Wrapped liquid staked Ether 2.0", "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0",
                  "0x12B54025C112Aa61fAce2CDB7118740875A566E9", "0xd5c3E3B566a42A6110513Ac7670C1a86D76E13E6",
                  "0xdede000000000000000000000000000000000104", 18, 5, 8300, 8400, 10700, 1000, 3000, 1, false, true,
                  false, true, 0, 2000000, 50000, 1, 1, 0, 0, PG_ETH, 1218000, 280, 1200, 9000, 0},
    [R_WBTC] = {"WBTC", "Wrapped BTC", "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599",
                "0x4197ba364AE6698015AE5c1468f54087602715b2", "0xf6fEe3A8aC8040C3d6d81d9A4a168516Ec9B51D2",
                "0xdede000000000000000000000000000000000105", 8, 6, 7700, 7800, 10700, 0, 2000, 0, false, false,
                false, false, 0, 3000, 500, 1, 1, 0, 0, PG_BTC, 999700, 0, 3100, 17000, 0},
    [R_GNO] = {"GNO", "Gnosis Token", "0x6810e776880C02933D47DB1b9fc05908e5386b96",
               "0x7b481aCC9fDADDc9af2cBEA1Ff2342CB1733E50F", "0x57a2957651DA467fCD4104D749f2F3684784c25a",
               "0xdede000000000000000000000000000000000106", 18, 11, 0, 2500, 11000, 1000, 2000, 0, true, false,
               false, false, 500000000, 0, 0, 0, 0, 200000, 0, PG_GNO, 1000000, 0, 0, 0, 0},
    [R_RETH] = {"rETH", "Rocket Pool ETH", "0xae78736Cd615f374D3085123A210448E74Fc6393",
                "0x9985dF20D7e9103ECBCeb16a84956434B6f06ae8", "0xBa2C8F2eA5B56690bFb8b709438F049e5Dd76B96",
                "0xdede000000000000000000000000000000000107", 18, 9, 0, 8000, 10700, 1000, 1500, 1, true, true,
                false, true, 0, 80000, 10000, 1, 1, 0, 0, PG_ETH, 1142000, 260, 400, 6000, 0},
    [R_USDT] = {"USDT", "Tether USD", "0xdAC17F958D2ee523a2206206994597C13D831ec7",
                "0xe7dF13b8e3d6740fe17CBE928C7334243d86c92f", "0x529b6158d1D2992E3129F7C69E81a7c677dc3B12",
                FIXED_ORACLE, 6, 2, 0, 0, 0, 0, 100, 2, false, true, false, true, 0, 0, 0, 0, 0, CAP36, CAP36,
                PG_USD, 1000000, 0, 88000, 118000, 9200},
    [R_WEETH] = {"weETH", "Wrapped eETH", "0xCd5fE23C85820F7B72D0926FC9b05b43E359b7ee",
                 "0x3CFd5C0D4acAA8Faee335842e4f31159fc76B008", "0xc2bD6d2fEe70A0A73a33795BdbeE0368AeF5c766",
                 "0xdede000000000000000000000000000000000109", 18, 7, 7900, 8000, 10800, 1000, 1500, 0, false, false,
                 false, false, 0, 500000, 10000, 0, 0, 0, 0, PG_ETH, 1069000, 270, 0, 0, 0},
    [R_CBBTC] = {"cbBTC", "Coinbase Wrapped BTC", "0xcbB7C0000aB88B473b1f5aFd9ef808440eed33Bf",
                 "0xb3973D459df38ae57797811F2A1fd061DA1BC123", "0x661fE667D2103eb52d3632a3eB2cAbd123F27938",
                 "0xdede00000000000000000000000000000000010a", 8, 8, 8100, 8200, 10800, 1000, 2000, 3, false, true,
                 false, true, 0, 20000, 500, 10000, 50, 0, 0, PG_BTC, 1000000, 0, 2100, 9500, 4500},
    [R_SUSDS] = {"sUSDS", "Savings USDS", "0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD",
                 "0x6715bc100A183cc65502F05845b589c1919ca3d3", "0x4e89b83f426fED3f2EF7Bb2d7eb5b53e288e1A13",
                 "0xdede00000000000000000000000000000000010b", 18, 3, 0, 8000, 10500, 1000, 1000, 2, false, false,
                 false, false, 0, 0, 0, 0, 0, 1, 0, PG_SUSDS, 1000000, 0, 0, 0, 0},
    [R_USDS] = {"USDS", "USDS Stablecoin", "0xdC035D45d973E3EC169d2276DDab16f1e407384F",
                "0xC02aB1A5eaA8d1B114EF786D9bde108cD4364359", "0x8c147debea24Fb98ade8dDa4bf142992928b449e",
                FIXED_ORACLE, 18, 0, 0, 0, 0, 0, 1000, 0, false, true, true, true, 0, 0, 0, 0, 0, 0, 0, PG_USD,
                1000000, 0, 61000, 83000, 7800},
    [R_LBTC] = {"LBTC", "Lombard Staked Bitcoin", "0x8236a87084f8B84306f72007F36F2618A5634494",
                "0xa9d4EcEBd48C282a70CfD3c469d6C8F178a5738E", "0x096bdDFEE63F44A97cC6D2945539Ee7C8f94637D",
                "0xdede00000000000000000000000000000000010d", 8, 7, 7400, 7500, 10800, 1000, 1500, 3, false, false,
                false, false, 0, 10000, 500, 0, 0, 0, 0, PG_BTC, 998500, 0, 0, 0, 0},
    [R_TBTC] = {"tBTC", "tBTC v2", "0x18084fbA666a33d37592fA2633fD49a74DD93a88",
                "0xce6Ca9cDce00a2b0c0d1dAC93894f4Bd2c960567", "0x764591dC9ba21c1B92049331b80b6E2a2acF8B17",
                "0xdede00000000000000000000000000000000010e", 18, 8, 7400, 7500, 10800, 1000, 9900, 0, true, true,
                false, true, 0, 1000, 125, 900, 25, 0, 0, PG_BTC, 999000, 0, 800, 6100, 0},
    [R_EZETH] = {"ezETH", "Renzo Restaked ETH", "0xbf5495Efe5DB9ce00f80364C8B423567e58d2110",
                 "0xB131cD463d83782d4DE33e00e35EF034F0869bA1", "0xB0B14Dd477E6159B4F3F210cF45F0954F57c0FAb",
                 "0xdede00000000000000000000000000000000010f", 18, 7, 7500, 7600, 11000, 1000, 1500, 0, true, false,
                 false, false, 0, 40000, 5000, 0, 0, 0, 0, PG_ETH, 1052000, 250, 0, 0, 0},
    [R_RSETH] = {"rsETH", "KelpDao Restaked ETH", "0xA1290d69c65A6Fe4DF752f95823fae25cB99e5A7",
                 "0x856f1Ea78361140834FDCd0dB0b08079e4A45062", "0xc528F0C91CFAE4fd86A68F6Dfd4d7284707Bec68",
                 "0xdede000000000000000000000000000000000110", 18, 7, 7500, 7600, 11000, 1000, 1500, 0, true, false,
                 false, false, 0, 40000, 5000, 0, 0, 0, 0, PG_ETH, 1058000, 250, 0, 0, 0},
    [R_PYUSD] = {"PYUSD", "PayPal USD", "0x6c3ea9036406852006290770BEdFcAbA0e23A0e8",
                 "0x779224df1c756b4EDD899854F32a53E8c2B2ce5d", "0x3357D2DB7763D6Cd3a99f0763EbF87e0096D95f9",
                 FIXED_ORACLE, 6, 12, 0, 0, 0, 1000, 1000, 2, false, true, false, true, 0, 0, 0, 0, 0, CAP36, CAP36,
                 PG_USD, 1000000, 0, 31000, 44000, 8800},
    [A_USDE] = {"USDe", "USDe", "0x4c9EDD5852cd905f086C759E8383e09bff1E68B3", NULL, NULL, NULL, 18},
    [A_SUSDE] = {"sUSDe", "Staked USDe", "0x9D39A5DE30e57443BfF2A8307A4256c8797A3497", NULL, NULL, NULL, 18},
};

enum { SRC_NONE, SRC_SSR, SRC_LST };
struct irm_def {
  const char *address;
  enum risk_irm_kind kind;
  uint32_t uopt_bps, base_bps, slope1_bps, slope2_bps, spread_bps;
  bool spread_negative;
  int source;
};
static const struct irm_def irms[] = {
    /* 0 DAI, USDS */ {"0x8a95998639A34462A1FdAaaA5506F66F90Ef2fDd", RISK_IRM_RATE_TARGET_KINK, 8000, 0, 0, 1500, 125, false, SRC_SSR},
    /* 1 USDC */ {"0x2961d766D71F33F6C5e6Ca8bA7d0Ca08E6452C92", RISK_IRM_RATE_TARGET_KINK, 9500, 0, 0, 1500, 125, false, SRC_SSR},
    /* 2 USDT */ {"0x4E494988E68e6Fc52309BE4937869e27F0C304AC", RISK_IRM_RATE_TARGET_KINK, 9500, 0, 0, 1500, 50, false, SRC_SSR},
    /* 3 sUSDS */ {"0xa8632b2f0A3C5327a77ee51a47A168B6490A7178", RISK_IRM_DEFAULT, 8000, 0, 200, 30000, 0, false, SRC_NONE},
    /* 4 WETH */ {"0xDFB6206FfC5BA5B48D2852370ee6A1bf6887476a", RISK_IRM_RATE_TARGET_KINK, 9000, 0, 0, 7500, 10, true, SRC_LST},
    /* 5 wstETH */ {"0xDD94eC5C14407e0bd6760c8eBDcD4Ec1327D3656", RISK_IRM_DEFAULT, 7000, 0, 200, 20000, 0, false, SRC_NONE},
    /* 6 WBTC */ {"0xD2139d6d63Acb1e7Cc91cE32bbD86eFb17eBEe46", RISK_IRM_DEFAULT, 6000, 0, 200, 30000, 0, false, SRC_NONE},
    /* 7 weETH, LBTC, rsETH, ezETH */ {"0xDe5Dde40E12763464dc859A9F03793988dE953FB", RISK_IRM_DEFAULT, 4500, 500, 1500, 30000, 0, false, SRC_NONE},
    /* 8 cbBTC, tBTC */ {"0x75a1397c72e2965447D2282Dd99eFC75cC080396", RISK_IRM_DEFAULT, 8000, 0, 100, 30000, 0, false, SRC_NONE},
    /* 9 rETH */ {"0xc1077B2De7b328A84c66A3e419369F8537DC1cFe", RISK_IRM_DEFAULT, 4500, 25, 700, 30000, 0, false, SRC_NONE},
    /* 10 sDAI (guessed) */ {"0xdede000000000000000000000000000000000201", RISK_IRM_DEFAULT, 8000, 0, 200, 30000, 0, false, SRC_NONE},
    /* 11 GNO (guessed) */ {"0xdede000000000000000000000000000000000202", RISK_IRM_DEFAULT, 4500, 0, 700, 30000, 0, false, SRC_NONE},
    /* 12 PYUSD */ {"0xDF7dedCfd522B1ee8da2c8526f642745800c8035", RISK_IRM_RATE_TARGET_BASE, 9500, 0, 200, 1500, 0, false, SRC_SSR},
};
#define N_IRMS (sizeof irms / sizeof irms[0])

#define SSR_RATE "1000000001167363430498603315" /* 3.75% APY (spec §1.6) */
#define SSR_RATE_SOURCE "0x57027B6262083E3aC3c8B2EB99f7e8005f669973"
#define LST_CAPPED_SOURCE "0xaBc99f366D2bE1f4e5b8DFC0F561a751dd836246"
#define ALM_PROXY "0x1601843c5E9bC251A3272907010AFa41Fa18347E"
#define TREASURY "0xb137E7d16564c81ae2b0C8ee6B55De81dd46ECe5"
#define KILL_SWITCH "0x909A86f78e1cdEd68F9c2Fe2c9CD922c401abe82"
#define INTENTS "0x592B7DB9906E6f8924C4D74c2A0aB86CE44fDDDf"

struct emode_def {
  uint32_t id, ltv, lt, lb;
  const char *label;
};
static const struct emode_def emodes[] = {{1, 9200, 9300, 10100, "ETH"}, {2, 9100, 9200, 10100, "USD"},
                                          {3, 8500, 9000, 10200, "BTC"}};

/* Savings vaults (spec §1.4, §1.6). Rates are APY bps converted with the engine. */
enum { V_SUSDS, V_SDAI, V_SPUSDC, V_SPUSDT, V_SPETH, V_SPPYUSD, N_VAULTS };
struct vault_def {
  const char *kind, *address, *symbol;
  int asset;
  uint32_t rate_bps;         /* APY of the stored rate (ssr / dsr / vsr) */
  uint32_t max_bps;          /* Spark Vaults V2 maxVsr APY (0 = not V2) */
  uint64_t cap_whole;        /* deposit cap in whole tokens */
  uint64_t supply_whole;     /* starting total supply (whole shares) */
  uint64_t chi_ppm;          /* starting chi - RAY (ppm) for sUSDS / sDAI; V2 vaults accrue from launch */
  uint64_t idle_whole;       /* starting idle balance */
  uint64_t intent_min, intent_max; /* whole tokens */
};
static const struct vault_def vaults[N_VAULTS] = {
    {"susds", "0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD", "sUSDS", R_USDS, 375, 0, 0, 2200000000, 86500, 0, 0, 0},
    {"sdai", "0x83F20F44975D03b1b09e64809B757c47f942BEeA", "sDAI", R_DAI, 325, 0, 0, 420000000, 171000, 0, 0, 0},
    {"spark_vault_v2", "0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d", "spUSDC", R_USDC, 375, 1000, 2000000000,
     1150000000, 0, 6000000, 5000000, 500000000},
    {"spark_vault_v2", "0xe2e7a17dFf93280dec073C995595155283e3C372", "spUSDT", R_USDT, 375, 1000, 4000000000,
     2900000000, 0, 8000000, 5000000, 500000000},
    {"spark_vault_v2", "0xfE6eb3b609a7C8352A241f7F3A21CEA4e9209B8f", "spETH", R_WETH, 200, 500, 500000, 150000, 0,
     1500, 1250, 250000},
    {"spark_vault_v2", "0x80128DbB9f07b93DDE62A6daeadb69ED14a7D354", "spPYUSD", R_PYUSD, 375, 1000, 250000000,
     180000000, 0, 4000000, 5000000, 500000000},
};
#define SPARK_VAULT_V2_LAUNCH 1759363200ull /* 2025-10-02T00:00:00Z (spell 20251002) */

/* Liquidity-layer venues. */
struct venue_def {
  const char *id, *kind, *address;
  int asset;
  const char *label;
};
enum {
  VN_SP_DAI, VN_SP_USDS, VN_SP_USDC, VN_SP_USDT, VN_SP_PYUSD, VN_SP_WETH, VN_AAVE_USDT, VN_SUSDS, VN_SUSDE,
  VN_SYRUP, VN_MORPHO, VN_CURVE, VN_UNIV4, VN_PSM, VN_ETHENA, VN_CCTP, VN_SPUSDC, VN_SPUSDT, VN_SPETH, VN_SPPYUSD,
  VN_ANCHORAGE, VN_B2C2, N_VENUES
};
static const struct venue_def venues[N_VENUES] = {
    {"sparklend-dai", "sparklend", "0x4DEDf26112B3Ec8eC46e7E31EA5e123490B05B8B", R_DAI, "SparkLend DAI (spDAI)"},
    {"sparklend-usds", "sparklend", "0xC02aB1A5eaA8d1B114EF786D9bde108cD4364359", R_USDS, "SparkLend USDS (spUSDS)"},
    {"sparklend-usdc", "sparklend", "0x377C3bd93f2a2984E1E7bE6A5C22c525eD4A4815", R_USDC, "SparkLend USDC (spUSDC)"},
    {"sparklend-usdt", "sparklend", "0xe7dF13b8e3d6740fe17CBE928C7334243d86c92f", R_USDT, "SparkLend USDT (spUSDT)"},
    {"sparklend-pyusd", "sparklend", "0x779224df1c756b4EDD899854F32a53E8c2B2ce5d", R_PYUSD, "SparkLend PYUSD (spPYUSD)"},
    {"sparklend-weth", "sparklend", "0x59cD1C87501baa753d0B5B5Ab5D8416A45cD71DB", R_WETH, "SparkLend WETH (spWETH)"},
    {"aave-core-usdt", "aave", "0x23878914EFE38d27C4D67Ab83ed1b93A74D4086a", R_USDT, "Aave Core USDT (aEthUSDT)"},
    {"susds", "erc4626", "0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD", R_USDS, "Sky Savings Rate (sUSDS)"},
    {"susde", "erc4626", "0x9D39A5DE30e57443BfF2A8307A4256c8797A3497", A_USDE, "Ethena staked USDe (sUSDe)"},
    {"maple-syrupusdt", "maple", "0x356B8d89c1e1239Cbbb9dE4815c39A1474d5BA7D", R_USDT, "Maple syrupUSDT"},
    {"morpho-usdt-v2", "erc4626", "0xdede000000000000000000000000000000000301", R_USDT, "Morpho V2 USDT vault (synthetic address)"},
    {"curve-susds-usdt", "curve", "0x00836Fe54625BE242BcFA286207795405ca4fD10", R_USDT, "Curve sUSDS/USDT"},
    {"uniswap-v4-pyusd-usds", "uniswap_v4", "0x000000000004444c5dc75cB358380D2e3dE08A90", R_PYUSD,
     "Uniswap V4 PYUSD/USDS (PoolManager; pool id synthetic)"},
    {"psm-usdc", "psm", "0xf6e72Db5454dd049d0788e411b06CfAF16853042", R_USDC, "Sky Lite PSM USDC"},
    {"ethena-minter", "ethena", "0xe3490297a08d6fC8Da46Edb7B6142E4F461b62D3", R_USDC, "Ethena minting (USDC to USDe)"},
    {"cctp", "cctp", "0xBd3fa81B58Ba92a82136038B25aDec7066af3155", R_USDC, "Circle CCTP token messenger"},
    {"spark-vault-spusdc", "spark_vault", "0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d", R_USDC, "Spark Savings spUSDC"},
    {"spark-vault-spusdt", "spark_vault", "0xe2e7a17dFf93280dec073C995595155283e3C372", R_USDT, "Spark Savings spUSDT"},
    {"spark-vault-speth", "spark_vault", "0xfE6eb3b609a7C8352A241f7F3A21CEA4e9209B8f", R_WETH, "Spark Savings spETH"},
    {"spark-vault-sppyusd", "spark_vault", "0x80128DbB9f07b93DDE62A6daeadb69ED14a7D354", R_PYUSD, "Spark Savings spPYUSD"},
    {"anchorage", "transfer", "0xdede000000000000000000000000000000000302", R_USDT, "Anchorage (synthetic address)"},
    {"b2c2", "transfer", "0xdede000000000000000000000000000000000303", R_USDC, "B2C2 (synthetic address)"},
};

/* Rate limits (spec §4.5). amounts are whole tokens of `dec` decimals; slope is per day. */
enum { K_PLAIN, K_ADDR, K_ADDR_ADDR, K_UINT32, K_BYTES32 };
#define UNLIMITED UINT64_MAX
struct rl_def {
  const char *name;
  int key_kind;
  int asset;              /* asset the key was derived from / moves (-1 none) */
  const char *target;     /* second address or the single key address (-1 / NULL none) */
  uint32_t u32;           /* K_UINT32 */
  const char *bytes32;    /* K_BYTES32: 64 hex chars */
  unsigned dec;
  uint64_t max_whole, per_day_whole; /* UNLIMITED = setUnlimited; 0/0 = deactivated */
};
#define UNIV4_PYUSD_POOL "dede0000000000000000000000000000000000000000000000000000000004a1"
#define UNIV4_USDT_POOL "dede0000000000000000000000000000000000000000000000000000000004a2"
enum {
  RL_USDS_MINT, RL_USDS_TO_USDC, RL_USDE_MINT, RL_USDE_BURN, RL_SUSDE_COOLDOWN, RL_4626_SUSDE,
  RL_CCTP_OP, RL_CCTP_UNI, RL_AAVE_SP_USDT, RL_AAVE_CORE_USDT, RL_AAVE_SP_WETH, RL_AAVE_SP_DAI, RL_AAVE_SP_USDS,
  RL_AAVE_SP_USDC, RL_AAVE_SP_PYUSD, RL_AAVE_W_SP_USDT, RL_AAVE_W_CORE_USDT, RL_AAVE_W_SP_WETH, RL_AAVE_W_SP_DAI,
  RL_AAVE_W_SP_USDS, RL_AAVE_W_SP_USDC, RL_AAVE_W_SP_PYUSD, RL_4626_SYRUP, RL_4626_W_SYRUP, RL_MAPLE_REDEEM,
  RL_4626_MORPHO, RL_CURVE_SUSDS_USDT, RL_CURVE_WEETH, RL_V4_PY_DEP, RL_V4_PY_WD, RL_V4_PY_SWAP, RL_V4_UT_DEP,
  RL_V4_UT_WD, RL_V4_UT_SWAP, RL_XFER_ANCHORAGE, RL_XFER_B2C2_USDC, RL_XFER_B2C2_USDT, RL_XFER_B2C2_PYUSD,
  RL_TAKE_SPUSDC, RL_TAKE_SPUSDT, RL_TAKE_SPETH, RL_TAKE_SPPYUSD, RL_XFER_SPUSDC, RL_XFER_SPUSDT, RL_XFER_SPETH,
  RL_XFER_SPPYUSD, RL_OFF_FLUID, RL_OFF_PRIME_USDS, RL_OFF_CORE_USDS, RL_OFF_CORE_USDC, N_RL
};
static const struct rl_def rls[N_RL] = {
    {"LIMIT_USDS_MINT", K_PLAIN, R_USDS, NULL, 0, NULL, 18, 500000000, 500000000},
    {"LIMIT_USDS_TO_USDC", K_PLAIN, R_USDC, NULL, 0, NULL, 6, 500000000, 300000000},
    {"LIMIT_USDE_MINT", K_PLAIN, R_USDC, NULL, 0, NULL, 6, 250000000, 100000000},
    {"LIMIT_USDE_BURN", K_PLAIN, A_USDE, NULL, 0, NULL, 18, 500000000, 200000000},
    {"LIMIT_SUSDE_COOLDOWN", K_PLAIN, A_USDE, NULL, 0, NULL, 18, UNLIMITED, 0},
    {"LIMIT_4626_DEPOSIT", K_ADDR, A_USDE, "0x9D39A5DE30e57443BfF2A8307A4256c8797A3497", 0, NULL, 18, 250000000, 100000000},
    {"LIMIT_USDC_TO_DOMAIN", K_UINT32, R_USDC, NULL, 2, NULL, 6, 50000000, 25000000},
    {"LIMIT_USDC_TO_DOMAIN", K_UINT32, R_USDC, NULL, 10, NULL, 6, 50000000, 25000000},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_USDT, "0xe7dF13b8e3d6740fe17CBE928C7334243d86c92f", 0, NULL, 6, 500000000, 2000000000},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_USDT, "0x23878914EFE38d27C4D67Ab83ed1b93A74D4086a", 0, NULL, 6, 100000000, 1000000000},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_WETH, "0x59cD1C87501baa753d0B5B5Ab5D8416A45cD71DB", 0, NULL, 18, 50000, 250000},
    /* guessed: the SparkLend DAI / USDS / USDC / PYUSD deposit limits are not in the spec */
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_DAI, "0x4DEDf26112B3Ec8eC46e7E31EA5e123490B05B8B", 0, NULL, 18, 1000000000, 2000000000},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_USDS, "0xC02aB1A5eaA8d1B114EF786D9bde108cD4364359", 0, NULL, 18, 1000000000, 2000000000},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_USDC, "0x377C3bd93f2a2984E1E7bE6A5C22c525eD4A4815", 0, NULL, 6, 500000000, 2000000000},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_PYUSD, "0x779224df1c756b4EDD899854F32a53E8c2B2ce5d", 0, NULL, 6, 250000000, 1000000000},
    {"LIMIT_AAVE_WITHDRAW", K_ADDR, R_USDT, "0xe7dF13b8e3d6740fe17CBE928C7334243d86c92f", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_AAVE_WITHDRAW", K_ADDR, R_USDT, "0x23878914EFE38d27C4D67Ab83ed1b93A74D4086a", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_AAVE_WITHDRAW", K_ADDR, R_WETH, "0x59cD1C87501baa753d0B5B5Ab5D8416A45cD71DB", 0, NULL, 18, UNLIMITED, 0},
    {"LIMIT_AAVE_WITHDRAW", K_ADDR, R_DAI, "0x4DEDf26112B3Ec8eC46e7E31EA5e123490B05B8B", 0, NULL, 18, UNLIMITED, 0},
    {"LIMIT_AAVE_WITHDRAW", K_ADDR, R_USDS, "0xC02aB1A5eaA8d1B114EF786D9bde108cD4364359", 0, NULL, 18, UNLIMITED, 0},
    {"LIMIT_AAVE_WITHDRAW", K_ADDR, R_USDC, "0x377C3bd93f2a2984E1E7bE6A5C22c525eD4A4815", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_AAVE_WITHDRAW", K_ADDR, R_PYUSD, "0x779224df1c756b4EDD899854F32a53E8c2B2ce5d", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_4626_DEPOSIT", K_ADDR, R_USDT, "0x356B8d89c1e1239Cbbb9dE4815c39A1474d5BA7D", 0, NULL, 6, 50000000, 100000000},
    {"LIMIT_4626_WITHDRAW", K_ADDR, R_USDT, "0x356B8d89c1e1239Cbbb9dE4815c39A1474d5BA7D", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_MAPLE_REDEEM", K_ADDR, R_USDT, "0x356B8d89c1e1239Cbbb9dE4815c39A1474d5BA7D", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_4626_DEPOSIT", K_ADDR, R_USDT, "0xdede000000000000000000000000000000000301", 0, NULL, 6, 100000000, 1000000000},
    {"LIMIT_CURVE_SWAP", K_ADDR, -1, "0x00836Fe54625BE242BcFA286207795405ca4fD10", 0, NULL, 18, 10000000, 200000000},
    {"LIMIT_CURVE_SWAP", K_ADDR, -1, "0xdede000000000000000000000000000000000304", 0, NULL, 18, 1000, 50000},
    {"LIMIT_UNISWAP_V4_DEPOSIT", K_BYTES32, -1, NULL, 0, UNIV4_PYUSD_POOL, 18, 10000000, 100000000},
    {"LIMIT_UNISWAP_V4_WITHDRAW", K_BYTES32, -1, NULL, 0, UNIV4_PYUSD_POOL, 18, 50000000, 200000000},
    {"LIMIT_UNISWAP_V4_SWAP", K_BYTES32, -1, NULL, 0, UNIV4_PYUSD_POOL, 18, 5000000, 50000000},
    {"LIMIT_UNISWAP_V4_DEPOSIT", K_BYTES32, -1, NULL, 0, UNIV4_USDT_POOL, 18, 5000000, 50000000},
    {"LIMIT_UNISWAP_V4_WITHDRAW", K_BYTES32, -1, NULL, 0, UNIV4_USDT_POOL, 18, 50000000, 200000000},
    {"LIMIT_UNISWAP_V4_SWAP", K_BYTES32, -1, NULL, 0, UNIV4_USDT_POOL, 18, 5000000, 50000000},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_USDT, "0xdede000000000000000000000000000000000302", 0, NULL, 6, 50000000, 250000000},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_USDC, "0xdede000000000000000000000000000000000303", 0, NULL, 6, 1000000, 20000000},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_USDT, "0xdede000000000000000000000000000000000303", 0, NULL, 6, 1000000, 20000000},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_PYUSD, "0xdede000000000000000000000000000000000303", 0, NULL, 6, 1000000, 20000000},
    {"LIMIT_SPARK_VAULT_TAKE", K_ADDR, R_USDC, "0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_SPARK_VAULT_TAKE", K_ADDR, R_USDT, "0xe2e7a17dFf93280dec073C995595155283e3C372", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_SPARK_VAULT_TAKE", K_ADDR, R_WETH, "0xfE6eb3b609a7C8352A241f7F3A21CEA4e9209B8f", 0, NULL, 18, UNLIMITED, 0},
    {"LIMIT_SPARK_VAULT_TAKE", K_ADDR, R_PYUSD, "0x80128DbB9f07b93DDE62A6daeadb69ED14a7D354", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_USDC, "0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_USDT, "0xe2e7a17dFf93280dec073C995595155283e3C372", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_WETH, "0xfE6eb3b609a7C8352A241f7F3A21CEA4e9209B8f", 0, NULL, 18, UNLIMITED, 0},
    {"LIMIT_ASSET_TRANSFER", K_ADDR_ADDR, R_PYUSD, "0x80128DbB9f07b93DDE62A6daeadb69ED14a7D354", 0, NULL, 6, UNLIMITED, 0},
    {"LIMIT_4626_DEPOSIT", K_ADDR, R_USDS, "0x2BBE31d63E6813E3AC858C04dae43FB2a72B0D11", 0, NULL, 18, 0, 0},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_USDS, "0x09AA30b182488f769a9824F15E6Ce58591Da4781", 0, NULL, 18, 0, 0},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_USDS, "0x32a6268f9Ba3642Dda7892aDd74f1D34469A4259", 0, NULL, 18, 0, 0},
    {"LIMIT_AAVE_DEPOSIT", K_ADDR, R_USDC, "0x98C23E9d8f34FEFb1B7BD6a91B7FF122F4e16F5c", 0, NULL, 6, 0, 0},
};

/* Kill switch oracles (spec §4.6). */
struct ks_def {
  const char *address, *label;
  unsigned decimals;
};
static const struct ks_def ks_oracles[] = {
    {"0x86392dC19c0b719886221c78AB11eb8Cf5c52812", "stETH/ETH (Chainlink)", 18},
    {"0xfdFD9C85aD200c506Cf9e21F1FD8dd01932FBB23", "WBTC/BTC (Chainlink)", 8},
    {"0xdede000000000000000000000000000000000401", "LBTC/BTC (synthetic address)", 8},
    {"0xdede000000000000000000000000000000000402", "cbBTC/BTC ratio (synthetic address)", 18},
    {"0xdede000000000000000000000000000000000403", "rETH/ETH ratio (synthetic address)", 18},
    {"0xdede000000000000000000000000000000000404", "weETH/ETH ratio (synthetic address)", 18},
};
// clang-format on
#define N_KS (sizeof ks_oracles / sizeof ks_oracles[0])

/* ------------------------------------------------------------------------------------------
 * Generator state. */

enum {
  K_SUPPLIER,
  K_ETH_STABLE,
  K_LOOPER,
  K_BTC_STABLE,
  K_BTC_EMODE,
  K_MIXED,
  K_USD_EMODE,
  K_ISOLATED,
  K_ALM,
  K_TREASURY
};

#define MAXPOS N_RES
struct dpos {
  uint8_t r;
  bool coll;      /* using-as-collateral bit */
  bool borrowing; /* borrowing bit */
  u256 sa, sd;
};
struct dacct {
  uint8_t addr[20];
  uint8_t kind;
  uint8_t emode;
  uint8_t n;
  bool changed;
  struct dpos p[MAXPOS];
};

struct dres {
  struct risk_reserve_state st;
  struct risk_irm irm;
  uint64_t supply_cap, borrow_cap;
  uint64_t supply_inc_t, borrow_inc_t;
  uint8_t addr[20];
};

struct dvault {
  u256 chi, rate, min_rate, max_rate, cap, supply, idle;
  uint64_t rho;
};

struct drl {
  uint8_t key[32];
  struct risk_rate_limit rl;
};

struct gen {
  struct cli_demo_opts o;
  FILE *out;
  struct jw w;       /* the snapshot being written; flushed to out in pieces */
  bool write_failed; /* out reported an error (or the writer could not grow) */
  char *err;
  size_t errlen;
  bool failed;
  uint64_t s[4]; /* xoshiro256** */
  uint64_t t, block, t0;
  unsigned step;
  /* prices */
  u256 eth_usd, btc_usd, gno_usd; /* 8 decimals */
  u256 eth0, btc0, gno0;          /* the walks' anchors (starting prices) */
  u256 ratio[N_RES];              /* 1e18 fixed point vs the group price */
  u256 lst_apr;                   /* WETH IRM inner source, 18 decimals */
  u256 price[N_RES];
  struct dres r[N_RES];
  struct dvault v[N_VAULTS];
  struct drl rl[N_RL];
  u256 alloc[N_VENUES]; /* non-SparkLend allocations (underlying); SparkLend = ALM account */
  u256 alloc_apr[N_VENUES];
  u256 alm_susds_shares;
  u256 idle[N_RES]; /* ALM proxy idle balances */
  u256 ks_answer[N_KS];
  struct dacct *acct;
  size_t n_acct;
  struct risk_market *m;   /* the engine's view of the reserves while accounts act */
  struct risk_account *ra; /* scratch: the acting account in the engine's form */
  u256 pow10[37];
};

/* ---------- errors and arithmetic helpers ---------- */

static void failf(struct gen *g, const char *fmt, ...) {
  if (g->failed) return;
  g->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->err, g->errlen, fmt, ap);
  va_end(ap);
}
#define CK(call)                                                                                                       \
  do {                                                                                                                 \
    risk_err ck_ = (call);                                                                                             \
    if (ck_ != RISK_OK) failf(g, "engine error %s at %s:%d (%s)", risk_err_name(ck_), __FILE__, __LINE__, #call);      \
  } while (0)

static u256 U(uint64_t v) { return u256_from_u64(v); }
static u256 add(struct gen *g, u256 a, u256 b) {
  u256 r = U256_ZERO;
  CK(u256_add(&r, a, b));
  return r;
}
static u256 sub_sat(u256 a, u256 b) { return u256_ge(a, b) ? u256_sub_wrap(a, b) : U256_ZERO; }
static u256 mul(struct gen *g, u256 a, u256 b) {
  u256 r = U256_ZERO;
  CK(u256_mul(&r, a, b));
  return r;
}
static u256 muldiv(struct gen *g, u256 a, u256 b, u256 d) {
  u256 r = U256_ZERO;
  CK(u256_muldiv(&r, a, b, d));
  return r;
}
/* bps as a RAY fraction: bps * 1e23. */
static u256 ray_bps(struct gen *g, uint64_t bps) {
  return mul(g, mul(g, U(bps), U(100000000000ull)), U(1000000000000ull));
}
static u256 ppm_of(struct gen *g, u256 a, uint64_t ppm) { return muldiv(g, a, U(ppm), U(1000000)); }

/* ---------- PRNG: splitmix64 seeds xoshiro256** ---------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rnd(struct gen *g) {
  uint64_t *s = g->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
  return result;
}
/* Uniform in [0, n). */
static uint64_t rndn(struct gen *g, uint64_t n) { return n ? (uint64_t)(((unsigned __int128)rnd(g) * n) >> 64) : 0; }
/* Uniform in [lo, hi]. */
static uint64_t rndr(struct gen *g, uint64_t lo, uint64_t hi) { return lo + rndn(g, hi - lo + 1); }
/* Approximately N(0,1) * 1e6 (Irwin-Hall, 12 uniforms). */
static int64_t rnd_normal_micro(struct gen *g) {
  int64_t s = 0;
  for (int i = 0; i < 12; i++)
    s += (int64_t)rndn(g, 1000000);
  return s - 6000000;
}
/* Picks an index by per-mille (or any) weights. */
static int pick(struct gen *g, const unsigned *w, int n) {
  unsigned total = 0;
  for (int i = 0; i < n; i++)
    total += w[i];
  uint64_t x = rndn(g, total);
  for (int i = 0; i < n; i++) {
    if (x < w[i]) return i;
    x -= w[i];
  }
  return n - 1;
}

/* ---------- addresses ---------- */

void cli_demo_eip55(const uint8_t addr[20], char out[43]) {
  static const char hx[] = "0123456789abcdef";
  char lower[40];
  for (int i = 0; i < 20; i++)
    lower[2 * i] = hx[addr[i] >> 4], lower[2 * i + 1] = hx[addr[i] & 15];
  uint8_t h[32];
  risk_keccak256((const uint8_t *)lower, 40, h);
  out[0] = '0', out[1] = 'x';
  for (int i = 0; i < 40; i++) {
    char c = lower[i];
    int nib = (i & 1) ? (h[i / 2] & 15) : (h[i / 2] >> 4);
    if (c >= 'a' && nib >= 8) c = (char)(c - 'a' + 'A');
    out[2 + i] = c;
  }
  out[42] = 0;
}

/* Parses a literal address; a mixed-case literal must carry a valid EIP-55 checksum. */
static void parse_addr(struct gen *g, const char *s, uint8_t out[20]) {
  memset(out, 0, 20);
  if (!s || strlen(s) != 42 || s[0] != '0' || s[1] != 'x') {
    failf(g, "bad address literal %s", s ? s : "(null)");
    return;
  }
  bool upper = false, lower = false;
  for (int i = 0; i < 20; i++) {
    int a = util_hexval(s[2 + 2 * i]), b = util_hexval(s[3 + 2 * i]);
    if (a < 0 || b < 0) {
      failf(g, "bad address literal %s", s);
      return;
    }
    out[i] = (uint8_t)(a << 4 | b);
  }
  for (int i = 2; i < 42; i++)
    upper |= (s[i] >= 'A' && s[i] <= 'F'), lower |= (s[i] >= 'a' && s[i] <= 'f');
  if (upper && lower) {
    char chk[43];
    cli_demo_eip55(out, chk);
    if (strcmp(chk, s) != 0) failf(g, "address literal %s fails its EIP-55 checksum (%s)", s, chk);
  }
}

/* ---------- rates ---------- */

risk_err cli_demo_rate_for_apy_bps(u256 *rate, uint32_t apy_bps) {
  u256 target, lo = RISK_RAY, hi, one = U256_ONE;
  risk_err e = u256_mul(&target, U(apy_bps), U(100000000000ull)); /* bps * 1e23 */
  if (!e) e = u256_mul(&target, target, U(1000000000000ull));
  if (e) return e;
  e = u256_mul(&hi, U(100000000000ull), U(1000000000ull)); /* 1e20 per second: far above 100% APY */
  if (!e) e = u256_add(&hi, RISK_RAY, hi);
  if (e) return e;
  /* invariant: apy(lo) <= target < apy(hi) */
  for (;;) {
    u256 diff;
    u256_sub(&diff, hi, lo);
    if (u256_le(diff, one)) break;
    u256 mid = u256_add_wrap(lo, u256_shr(diff, 1)), apy;
    e = risk_savings_apy_ray(&apy, mid);
    if (e == RISK_OVERFLOW || (e == RISK_OK && u256_gt(apy, target)))
      hi = mid;
    else if (e == RISK_OK)
      lo = mid;
    else
      return e;
  }
  *rate = lo;
  return RISK_OK;
}

/* ---------- output ---------- */

/* Sends what the writer holds to out once it is large enough to be worth a write. */
static void flush_some(struct gen *g) {
  if (g->w.len >= (1u << 16) && !jw_flush(&g->w, g->out)) g->write_failed = true;
}
static void w_addr(struct gen *g, const uint8_t a[20]) {
  char b[43];
  cli_demo_eip55(a, b);
  jw_plain(&g->w, b, 42);
}
static void w_addr_lit(struct gen *g, const char *lit) {
  uint8_t a[20];
  parse_addr(g, lit, a);
  w_addr(g, a);
}
static void kaddr(struct gen *g, const char *k, const uint8_t a[20]) {
  jw_key(&g->w, k);
  w_addr(g, a);
}
static void kaddr_lit(struct gen *g, const char *k, const char *lit) {
  jw_key(&g->w, k);
  w_addr_lit(g, lit);
}
static void khex32(struct gen *g, const char *k, const uint8_t b[32]) {
  static const char hx[] = "0123456789abcdef";
  char t[66] = {'0', 'x'};
  for (int i = 0; i < 32; i++)
    t[2 + 2 * i] = hx[b[i] >> 4], t[3 + 2 * i] = hx[b[i] & 15];
  jw_key(&g->w, k);
  jw_plain(&g->w, t, sizeof t);
}

/* ---------- reserves ---------- */

static void reserve_config(const struct dres *r, int i, struct risk_reserve_config *c) {
  const struct asset_def *a = &assets[i];
  memset(c, 0, sizeof *c);
  c->ltv = a->ltv, c->liquidation_threshold = a->lt, c->liquidation_bonus = a->lb, c->decimals = a->decimals;
  c->active = true, c->frozen = a->frozen, c->borrowing_enabled = a->borrowing;
  c->borrowable_in_isolation = a->iso_borrowable, c->flashloan_enabled = a->flashloan;
  c->reserve_factor = a->rf, c->liquidation_protocol_fee = a->fee, c->emode_category = a->emode;
  c->supply_cap = r->supply_cap, c->borrow_cap = r->borrow_cap, c->debt_ceiling = a->debt_ceiling;
}

static void setup_irm(struct gen *g, int i) {
  const struct irm_def *d = &irms[assets[i].irm];
  struct risk_irm *m = &g->r[i].irm;
  memset(m, 0, sizeof *m);
  m->kind = d->kind;
  m->optimal_usage_ratio = ray_bps(g, d->uopt_bps);
  m->base_variable_borrow_rate = ray_bps(g, d->base_bps);
  m->variable_rate_slope1 = ray_bps(g, d->slope1_bps);
  m->variable_rate_slope2 = ray_bps(g, d->slope2_bps);
  m->spread = ray_bps(g, d->spread_bps);
  m->spread_negative = d->spread_negative;
  if (d->source == SRC_SSR) {
    m->source.kind = RISK_RATE_SOURCE_SSR;
    CK(u256_from_dec(&m->source.value, SSR_RATE, strlen(SSR_RATE)));
  } else if (d->source == SRC_LST) {
    m->source.kind = RISK_RATE_SOURCE_ORACLE;
    m->source.value = g->lst_apr;
    m->source.decimals = 18;
    m->source.capped = true;
    m->source.lower_bound = U(20000000000000000ull);  /* 2.0% */
    m->source.upper_bound = U(55000000000000000ull);  /* 5.5% */
    m->source.default_rate = U(30000000000000000ull); /* 3.0% */
  }
}

static u256 total_debt(struct gen *g, int i) {
  u256 d = U256_ZERO;
  CK(risk_reserve_from_scaled(&d, g->r[i].st.variable_debt_scaled_total_supply, g->r[i].st.variable_borrow_index));
  return d;
}
static u256 total_supply_actual(struct gen *g, int i) {
  u256 s = U256_ZERO;
  CK(risk_reserve_from_scaled(&s, add(g, g->r[i].st.a_token_scaled_total_supply, g->r[i].st.accrued_to_treasury),
                              g->r[i].st.liquidity_index));
  return s;
}

static void recompute_rates(struct gen *g, int i) {
  struct dres *r = &g->r[i];
  if (irms[assets[i].irm].source == SRC_LST) r->irm.source.value = g->lst_apr;
  struct risk_irm_rates out;
  risk_err e = risk_irm_calculate(&out, &r->irm, total_debt(g, i), r->st.available_liquidity, assets[i].rf);
  if (e) {
    failf(g, "rates of %s: %s", assets[i].symbol, risk_err_name(e));
    return;
  }
  r->st.current_liquidity_rate = out.liquidity_rate;
  r->st.current_variable_borrow_rate = out.variable_borrow_rate;
}

/* CapAutomator (spec §2.8): newCap = min(value + gap, max); increases after a 12 h cooldown. */
static void run_cap_automator(struct gen *g, int i, bool initial) {
  const struct asset_def *a = &assets[i];
  struct dres *r = &g->r[i];
  if (a->supply_max) {
    u256 v = U256_ZERO;
    CK(risk_reserve_from_scaled(&v, add(g, r->st.a_token_scaled_total_supply, r->st.accrued_to_treasury),
                                r->st.liquidity_index));
    uint64_t whole = 0;
    u256 q = U256_ZERO;
    CK(u256_div(&q, v, g->pow10[a->decimals]));
    u256_to_u64(q, &whole);
    uint64_t cap = whole + a->supply_gap < a->supply_max ? whole + a->supply_gap : a->supply_max;
    if (initial || cap < r->supply_cap || (cap > r->supply_cap && g->t >= r->supply_inc_t + 43200)) {
      if (cap > r->supply_cap) r->supply_inc_t = g->t;
      r->supply_cap = cap;
    }
  }
  if (a->borrow_max) {
    uint64_t whole = 0;
    u256 q = U256_ZERO;
    CK(u256_div(&q, total_debt(g, i), g->pow10[a->decimals]));
    u256_to_u64(q, &whole);
    uint64_t cap = whole + a->borrow_gap < a->borrow_max ? whole + a->borrow_gap : a->borrow_max;
    if (initial || cap < r->borrow_cap || (cap > r->borrow_cap && g->t >= r->borrow_inc_t + 43200)) {
      if (cap > r->borrow_cap) r->borrow_inc_t = g->t;
      r->borrow_cap = cap;
    }
  }
}

/* ---------- prices ---------- */

static void set_prices(struct gen *g) {
  for (int i = 0; i < N_RES; i++) {
    u256 base = U256_ZERO;
    switch (assets[i].price_group) {
    case PG_USD: g->price[i] = U(100000000); continue;
    case PG_ETH: base = g->eth_usd; break;
    case PG_BTC: base = g->btc_usd; break;
    case PG_GNO: g->price[i] = g->gno_usd; continue;
    case PG_SDAI:
    case PG_SUSDS: {
      const struct dvault *v = &g->v[assets[i].price_group == PG_SDAI ? V_SDAI : V_SUSDS];
      u256 chi = U256_ZERO;
      CK(risk_savings_chi_at(&chi, v->chi, v->rho, v->rate, g->t));
      g->price[i] = muldiv(g, U(100000000), chi, RISK_RAY);
      continue;
    }
    }
    g->price[i] = muldiv(g, base, g->ratio[i], U(1000000000000000000ull));
  }
}

/* One step of a multiplicative random walk pulled towards anchor (0.5% of the gap per
 * step): p * (1 + sigma_ppm * z + 0.005 * (anchor - p) / p), clamped to [lo, hi]
 * (hi == 0: no upper bound). */
static u256 walk_to(struct gen *g, u256 p, u256 anchor, uint64_t sigma_ppm, uint64_t lo, uint64_t hi) {
  int64_t z = rnd_normal_micro(g);                                       /* N(0,1) * 1e6 */
  int64_t ret = (int64_t)(((__int128)z * (int64_t)sigma_ppm) / 1000000); /* ppm */
  if (!u256_is_zero(p)) {
    u256 gap = u256_gt(anchor, p) ? u256_sub_wrap(anchor, p) : u256_sub_wrap(p, anchor);
    uint64_t pull = 0;
    u256 q = muldiv(g, gap, U(5000), p);
    if (u256_to_u64(q, &pull) && pull < 100000) ret += u256_gt(anchor, p) ? (int64_t)pull : -(int64_t)pull;
  }
  u256 f = U((uint64_t)(1000000 + ret));
  u256 np = muldiv(g, p, f, U(1000000));
  if (u256_lt(np, U(lo))) np = U(lo);
  if (hi && u256_gt(np, U(hi))) np = U(hi);
  return np;
}
/* A walk without an anchor. */
static u256 walk(struct gen *g, u256 p, uint64_t sigma_ppm, uint64_t lo, uint64_t hi) {
  return walk_to(g, p, p, sigma_ppm, lo, hi);
}

static void move_prices(struct gen *g) {
  /* 6-hour volatility: ETH ~60%/yr -> 1.57%, BTC ~45%/yr -> 1.18%, GNO ~70%/yr -> 1.83% */
  g->eth_usd = walk_to(g, g->eth_usd, g->eth0, 15700, 50000000000ull, 2000000000000ull);
  g->btc_usd = walk_to(g, g->btc_usd, g->btc0, 11800, 1000000000000ull, 50000000000000ull);
  g->gno_usd = walk_to(g, g->gno_usd, g->gno0, 18300, 1000000000ull, 200000000000ull);
  for (int i = 0; i < N_RES; i++) {
    if (!assets[i].ratio_growth_bps) continue;
    /* exchange-rate growth over 6 h: ratio * bps / 10000 * 21600 / YEAR */
    u256 inc = muldiv(g, g->ratio[i], U((uint64_t)assets[i].ratio_growth_bps * CLI_DEMO_STEP_SECONDS),
                      U(10000ull * RISK_YEAR));
    g->ratio[i] = add(g, g->ratio[i], inc);
  }
  /* LST staking APR (18 decimals): a slow walk around 3%; the capped source clamps to [2%, 5.5%]. */
  g->lst_apr = walk(g, g->lst_apr, 20000, 15000000000000000ull, 60000000000000000ull);
  for (size_t k = 0; k < N_KS; k++) {
    uint64_t one = ks_oracles[k].decimals == 18 ? 1000000000000000000ull : 100000000ull;
    g->ks_answer[k] = walk(g, g->ks_answer[k], 300, one / 1000 * 990, one / 10000 * 10010);
  }
}

/* ---------- market / accounts ---------- */

/* The engine's view of the reserves at the current time. With legacy set, the configuration
 * the deprecated reserves had while their positions were opened: not frozen, an LTV below the
 * liquidation threshold where it is now 0, and no supply cap where it is now 1 (how sDAI,
 * sUSDS, GNO, rETH and the frozen LRTs came to hold positions the current configuration
 * would refuse). */
static void build_market(struct gen *g, bool legacy) {
  struct risk_market *m = g->m;
  memset(m, 0, sizeof *m);
  m->n_reserves = N_RES;
  for (int i = 0; i < N_RES; i++) {
    const struct asset_def *a = &assets[i];
    struct risk_acct_reserve *x = &m->reserves[i];
    const struct dres *r = &g->r[i];
    x->decimals = a->decimals, x->ltv = a->ltv, x->liquidation_threshold = a->lt, x->liquidation_bonus = a->lb;
    x->liquidation_protocol_fee = a->fee, x->emode_category = a->emode;
    x->borrow_cap = r->borrow_cap, x->supply_cap = r->supply_cap, x->debt_ceiling = a->debt_ceiling;
    x->listed = true, x->active = true, x->frozen = a->frozen, x->borrowing_enabled = a->borrowing;
    x->borrowable_in_isolation = a->iso_borrowable;
    if (legacy) {
      x->frozen = false;
      if (x->ltv == 0 && x->liquidation_threshold != 0)
        x->ltv = x->liquidation_threshold > 500 ? x->liquidation_threshold - 500 : x->liquidation_threshold;
      if (x->supply_cap == 1) x->supply_cap = 0;
    }
    x->price = g->price[i];
    CK(risk_reserve_normalized_income(&x->liquidity_index, &r->st, g->t));
    CK(risk_reserve_normalized_debt(&x->variable_borrow_index, &r->st, g->t));
    x->a_token_scaled_total_supply = r->st.a_token_scaled_total_supply;
    x->accrued_to_treasury = r->st.accrued_to_treasury;
    x->variable_debt_scaled_total_supply = r->st.variable_debt_scaled_total_supply;
    x->isolation_mode_total_debt = r->st.isolation_mode_total_debt;
    x->available_liquidity = r->st.available_liquidity;
  }
  for (size_t k = 0; k < sizeof emodes / sizeof emodes[0]; k++) {
    m->emode[emodes[k].id].ltv = emodes[k].ltv;
    m->emode[emodes[k].id].liquidation_threshold = emodes[k].lt;
    m->emode[emodes[k].id].liquidation_bonus = emodes[k].lb;
  }
  CK(risk_market_prepare(m));
}

/* The reserve totals the engine moved, back into the stored reserve state that is written out
 * and accrues. */
static void sync_reserves(struct gen *g) {
  for (int i = 0; i < N_RES; i++) {
    const struct risk_acct_reserve *x = &g->m->reserves[i];
    struct risk_reserve_state *st = &g->r[i].st;
    st->a_token_scaled_total_supply = x->a_token_scaled_total_supply;
    st->variable_debt_scaled_total_supply = x->variable_debt_scaled_total_supply;
    st->isolation_mode_total_debt = x->isolation_mode_total_debt;
    st->available_liquidity = x->available_liquidity;
  }
}

static void to_risk_account(const struct dacct *a, struct risk_account *ra) {
  ra->emode_category = a->emode;
  ra->n_positions = a->n;
  for (unsigned i = 0; i < a->n; i++) {
    ra->pos[i].reserve = a->p[i].r;
    ra->pos[i].collateral = a->p[i].coll;
    ra->pos[i].borrowing = a->p[i].borrowing;
    ra->pos[i].scaled_a = a->p[i].sa;
    ra->pos[i].scaled_debt = a->p[i].sd;
  }
}

/* The engine's account back into the generator's; a position without balances is not
 * written (the snapshot format drops it), so it is not kept either. */
static void from_risk_account(struct gen *g, const struct risk_account *ra, struct dacct *a) {
  unsigned n = 0;
  a->emode = (uint8_t)ra->emode_category;
  for (uint32_t i = 0; i < ra->n_positions; i++) {
    const struct risk_position *p = &ra->pos[i];
    if (u256_is_zero(p->scaled_a) && u256_is_zero(p->scaled_debt)) continue;
    if (n >= MAXPOS) {
      failf(g, "too many positions");
      break;
    }
    a->p[n++] = (struct dpos){(uint8_t)p->reserve, p->collateral, p->borrowing, p->scaled_a, p->scaled_debt};
  }
  a->n = (uint8_t)n;
  a->changed = true;
}

static bool evaluate(struct gen *g, const struct dacct *a, struct risk_account_data *d) {
  to_risk_account(a, g->ra);
  risk_err e = risk_account_evaluate(g->m, g->ra, d);
  if (e) failf(g, "account evaluation: %s", risk_err_name(e));
  return e == RISK_OK;
}

static struct dpos *find_pos(struct dacct *a, int r) {
  for (unsigned i = 0; i < a->n; i++)
    if (a->p[i].r == r) return &a->p[i];
  return NULL;
}

/* One account action through the engine (risk_account_apply) on the current market: when the
 * Pool accepts it, the account and the reserve totals become what the engine computed.
 * Returns the revert reason or RISK_ONCHAIN_OK. */
static risk_onchain_err act(struct gen *g, struct dacct *a, const struct risk_action *x) {
  to_risk_account(a, g->ra);
  risk_onchain_err e = risk_account_apply(g->m, g->ra, x);
  if (e != RISK_ONCHAIN_OK) return e;
  from_risk_account(g, g->ra, a);
  sync_reserves(g);
  return e;
}

static risk_onchain_err set_collateral(struct gen *g, struct dacct *a, int r, bool on) {
  struct risk_action x = {.kind = RISK_ACT_SET_COLLATERAL, .reserve = (uint16_t)r, .use_as_collateral = on};
  return act(g, a, &x);
}

/* A supply, withdraw, borrow or repay of amount (2^256-1: everything, for withdraw and
 * repay). When the Pool would revert, the user sends the largest amount it accepts instead
 * (risk_account_max_amount), or nothing when none passes. Returns the underlying moved. */
static u256 act_amount(struct gen *g, struct dacct *a, risk_action_kind kind, int r, u256 amount, bool on_behalf) {
  if (u256_is_zero(amount)) return U256_ZERO;
  struct risk_action x = {.kind = kind, .reserve = (uint16_t)r, .amount = amount, .on_behalf = on_behalf};
  const u256 before = g->m->reserves[r].available_liquidity;
  to_risk_account(a, g->ra);
  risk_onchain_err e = risk_account_apply(g->m, g->ra, &x);
  if (e != RISK_ONCHAIN_OK) {
    u256 max = U256_ZERO;
    (void)risk_account_max_amount(g->m, g->ra, &x, &max, NULL);
    if (u256_is_zero(max) || !u256_lt(max, amount)) return U256_ZERO;
    x.amount = max;
    if (risk_account_apply(g->m, g->ra, &x) != RISK_ONCHAIN_OK) return U256_ZERO;
  }
  from_risk_account(g, g->ra, a);
  sync_reserves(g);
  const u256 after = g->m->reserves[r].available_liquidity;
  return u256_gt(after, before) ? u256_sub_wrap(after, before) : u256_sub_wrap(before, after);
}

/* A borrow while the demo's history is being built: the liquidity it needs is supplied by the
 * ALM proxy first (fill_supply settles the ALM proxy's balance afterwards). */
static u256 genesis_borrow(struct gen *g, struct dacct *a, int r, u256 amount) {
  const u256 avail = g->m->reserves[r].available_liquidity;
  if (u256_gt(amount, avail)) act_amount(g, &g->acct[0], RISK_ACT_SUPPLY, r, u256_sub_wrap(amount, avail), false);
  return act_amount(g, a, RISK_ACT_BORROW, r, amount, false);
}

/* USD (whole dollars) to token units at the current price. */
static u256 usd_to_tokens(struct gen *g, int r, uint64_t usd) {
  return muldiv(g, mul(g, U(usd), U(100000000)), g->pow10[assets[r].decimals], g->price[r]);
}

static uint64_t draw_size_usd(struct gen *g, int max_decade) {
  static const unsigned w[] = {100, 360, 350, 150, 38, 2}; /* decades 2..7 */
  int d = pick(g, w, 6) + 2;
  if (d > max_decade) d = max_decade;
  uint64_t p = 1;
  for (int i = 0; i < d; i++)
    p *= 10;
  return p * rndr(g, 1000, 9999) / 1000;
}

/* Target health factor in thousandths. */
static uint64_t draw_hf_milli(struct gen *g, bool looper) {
  if (looper) {
    static const unsigned w[] = {30, 500, 470};
    switch (pick(g, w, 3)) {
    case 0: return rndr(g, 950, 999);
    case 1: return rndr(g, 1000, 1060);
    default: return rndr(g, 1061, 1250);
    }
  }
  static const unsigned w[] = {25, 60, 215, 400, 300};
  switch (pick(g, w, 5)) {
  case 0: return rndr(g, 900, 999);
  case 1: return rndr(g, 1000, 1099);
  case 2: return rndr(g, 1100, 1499);
  case 3: return rndr(g, 1500, 2499);
  default: return rndr(g, 2500, 8000);
  }
}

static uint32_t eff_lt(int r, int emode) {
  if (emode && assets[r].emode == (uint32_t)emode)
    for (size_t k = 0; k < sizeof emodes / sizeof emodes[0]; k++)
      if (emodes[k].id == (uint32_t)emode) return emodes[k].lt;
  return assets[r].lt;
}

/* Opens an account with the engine's actions: eMode, supplies, collateral bits, then borrows
 * sized for a drawn health factor. A target the Pool would refuse (below what the LTV allows)
 * becomes the largest borrow it accepts. */
static void make_account(struct gen *g, struct dacct *a, size_t idx) {
  /* address: keccak256("sparkd-demo-account" || seed || index)[12..32] */
  uint8_t buf[64], h[32];
  int n = snprintf((char *)buf, sizeof buf, "sparkd-demo-account/%" PRIu64 "/%zu", g->o.seed, idx);
  risk_keccak256(buf, (size_t)n, h);
  memcpy(a->addr, h + 12, 20);
  static const unsigned kind_w[] = {335, 250, 150, 110, 40, 70, 30, 15};
  a->kind = (uint8_t)pick(g, kind_w, 8);
  a->n = 0, a->emode = 0, a->changed = true;
  int coll[3], ncoll = 0, debt[2], ndebt = 0;
  uint32_t emode = 0;
  uint64_t size = draw_size_usd(g, a->kind == K_ISOLATED ? 4 : 7);
  static const int stables[] = {R_DAI, R_USDS, R_USDC, R_USDT, R_PYUSD};
  static const unsigned stable_w[] = {20, 30, 25, 20, 5};
  switch (a->kind) {
  case K_SUPPLIER: {
    static const int sup[] = {R_WETH,  R_WSTETH, R_WEETH, R_USDC,  R_USDT, R_DAI,  R_USDS, R_PYUSD,
                              R_CBBTC, R_WBTC,   R_LBTC,  R_SUSDS, R_SDAI, R_RETH, R_TBTC, R_GNO};
    static const unsigned sup_w[] = {80, 150, 100, 8, 6, 5, 5, 2, 50, 30, 30, 30, 20, 20, 10, 10};
    int k = 1 + (int)rndn(g, 2);
    for (int j = 0; j < k; j++) {
      int r = sup[pick(g, sup_w, 16)];
      bool c = assets[r].lt != 0 && rndn(g, 100) < 85;
      if (assets[r].debt_ceiling) c = false; /* an isolated asset only as a lone collateral */
      act_amount(g, a, RISK_ACT_SUPPLY, r, usd_to_tokens(g, r, size / (uint64_t)k), false);
      const struct dpos *p = find_pos(a, r);
      if (p && p->coll != c) (void)set_collateral(g, a, r, c);
    }
    return;
  }
  case K_ETH_STABLE: {
    static const int c[] = {R_WETH, R_WSTETH, R_WEETH, R_RSETH, R_EZETH};
    static const unsigned w[] = {25, 45, 20, 5, 5};
    coll[ncoll++] = c[pick(g, w, 5)];
    if (rndn(g, 100) < 10) coll[ncoll++] = R_WETH;
    debt[ndebt++] = stables[pick(g, stable_w, 5)];
    if (rndn(g, 100) < 20) debt[ndebt++] = stables[pick(g, stable_w, 5)];
    break;
  }
  case K_LOOPER:
    emode = 1;
    coll[ncoll++] = rndn(g, 100) < 88 ? R_WSTETH : R_RETH;
    debt[ndebt++] = R_WETH;
    break;
  case K_BTC_STABLE: {
    static const int c[] = {R_WBTC, R_CBBTC, R_LBTC, R_TBTC};
    static const unsigned w[] = {15, 45, 33, 7};
    coll[ncoll++] = c[pick(g, w, 4)];
    debt[ndebt++] = stables[pick(g, stable_w, 4)];
    break;
  }
  case K_BTC_EMODE:
    emode = 3;
    coll[ncoll++] = rndn(g, 100) < 70 ? R_LBTC : R_CBBTC;
    debt[ndebt++] = R_CBBTC;
    break;
  case K_MIXED:
    coll[ncoll++] = R_WETH;
    coll[ncoll++] = rndn(g, 100) < 70 ? R_CBBTC : R_WBTC;
    debt[ndebt++] = stables[pick(g, stable_w, 5)];
    if (rndn(g, 100) < 40) debt[ndebt++] = R_WETH;
    break;
  case K_USD_EMODE:
    emode = 2;
    coll[ncoll++] = rndn(g, 100) < 60 ? R_SUSDS : R_SDAI;
    debt[ndebt++] = rndn(g, 2) ? R_USDC : R_USDT;
    if (rndn(g, 100) < 15) debt[ndebt++] = R_PYUSD;
    break;
  case K_ISOLATED:
    coll[ncoll++] = R_GNO;
    debt[ndebt++] = R_USDS;
    break;
  }
  if (ndebt == 2 && debt[0] == debt[1]) ndebt = 1;
  if (ncoll == 2 && coll[0] == coll[1]) ncoll = 1;
  if (emode) {
    struct risk_action x = {.kind = RISK_ACT_SET_EMODE, .emode_category = emode};
    if (act(g, a, &x) != RISK_ONCHAIN_OK) failf(g, "eMode %u refused for a new account", emode);
  }
  /* collateral split, then debt = sum(coll * LT) / HF */
  uint64_t lt_value = 0; /* USD * bps */
  for (int j = 0; j < ncoll; j++) {
    uint64_t part = size / (uint64_t)ncoll;
    act_amount(g, a, RISK_ACT_SUPPLY, coll[j], usd_to_tokens(g, coll[j], part), false);
    const struct dpos *p = find_pos(a, coll[j]);
    if (p && !p->coll) (void)set_collateral(g, a, coll[j], true); /* an isolated asset is not automatic */
    lt_value += part * eff_lt(coll[j], a->emode);
  }
  uint64_t hf = draw_hf_milli(g, a->kind == K_LOOPER);
  uint64_t debt_usd = lt_value / 10 / hf; /* (value * lt / 10000) * 1000 / hf */
  if (debt_usd == 0) debt_usd = 1;
  for (int j = 0; j < ndebt; j++) {
    uint64_t part = ndebt == 1 ? debt_usd : (j == 0 ? debt_usd * 6 / 10 : debt_usd - debt_usd * 6 / 10);
    genesis_borrow(g, a, debt[j], usd_to_tokens(g, debt[j], part));
  }
}

/* The ALM proxy's aToken balance of reserve r, in the underlying. */
static u256 alm_balance(struct gen *g, int r) {
  const struct dpos *p = find_pos(&g->acct[0], r);
  u256 v = U256_ZERO;
  if (p) CK(risk_reserve_from_scaled(&v, p->sa, g->r[r].st.liquidity_index));
  return v;
}

/* Brings the reserve's supply to its target utilization: stablecoins from the liquidity layer
 * (ALM proxy), WETH from the ALM proxy (20,000 WETH at most) and pure suppliers, cbBTC from
 * pure suppliers. The ALM proxy's supply that funded the borrows is settled to its share. */
static void fill_supply(struct gen *g, int r) {
  uint32_t tu = assets[r].target_util_bps;
  if (!tu) return;
  u256 alm = alm_balance(g, r);
  u256 others = sub_sat(total_supply_actual(g, r), alm);
  u256 want = muldiv(g, total_debt(g, r), U(10000), U(tu));
  u256 gap = sub_sat(want, others), alm_want = U256_ZERO;
  if (assets[r].price_group == PG_USD) {
    alm_want = gap;
  } else if (r == R_WETH) { /* the ALM proxy holds 20,000 WETH in SparkLend */
    alm_want = mul(g, U(20000), g->pow10[18]);
    if (u256_gt(alm_want, gap)) alm_want = gap;
  }
  u256 rest = u256_sub_wrap(gap, alm_want);
  if (!u256_is_zero(rest)) {
    const int chunks = 64;
    u256 piece = U256_ZERO;
    CK(u256_div(&piece, rest, U(chunks)));
    for (int k = 0; k < chunks; k++) {
      size_t i;
      int tries = 0;
      do
        i = 2 + rndn(g, g->n_acct - 2);
      while (g->acct[i].kind != K_SUPPLIER && ++tries < 1000);
      act_amount(g, &g->acct[i], RISK_ACT_SUPPLY, r, piece, false);
    }
  }
  if (u256_gt(alm_want, alm))
    act_amount(g, &g->acct[0], RISK_ACT_SUPPLY, r, u256_sub_wrap(alm_want, alm), false);
  else if (u256_gt(alm, alm_want))
    act_amount(g, &g->acct[0], RISK_ACT_WITHDRAW, r, u256_is_zero(alm_want) ? U256_MAX : u256_sub_wrap(alm, alm_want),
               false);
}

/* ---------- rate limits and the liquidity layer ---------- */

/* Spends up to amount of limit k at time t; returns what the limit allowed. */
static u256 rl_spend(struct gen *g, int k, u256 amount) {
  struct drl *x = &g->rl[k];
  if (risk_rate_limit_is_unlimited(&x->rl)) return amount;
  u256 cur = U256_ZERO;
  CK(risk_rate_limit_current(&cur, &x->rl, g->t));
  if (u256_gt(amount, cur)) amount = cur;
  if (u256_is_zero(amount)) return amount;
  u256 nl;
  enum risk_rate_limit_revert why;
  CK(risk_rate_limit_decrease(&x->rl, &nl, &why, &x->rl, amount, g->t));
  return amount;
}
static void rl_refill(struct gen *g, int k, u256 amount) {
  struct drl *x = &g->rl[k];
  if (u256_is_zero(x->rl.max_amount) || risk_rate_limit_is_unlimited(&x->rl)) return;
  u256 nl;
  enum risk_rate_limit_revert why;
  CK(risk_rate_limit_increase(&x->rl, &nl, &why, &x->rl, amount, g->t));
}

static void init_rate_limits(struct gen *g) {
  for (int k = 0; k < N_RL; k++) {
    const struct rl_def *d = &rls[k];
    struct drl *x = &g->rl[k];
    uint8_t base[32], a[20], b[20];
    risk_rate_limit_key(base, d->name);
    switch (d->key_kind) {
    case K_PLAIN: memcpy(x->key, base, 32); break;
    case K_ADDR:
      parse_addr(g, d->target, a);
      risk_rate_limit_address_key(x->key, base, a);
      break;
    case K_ADDR_ADDR:
      parse_addr(g, assets[d->asset].address, a);
      parse_addr(g, d->target, b);
      risk_rate_limit_address_address_key(x->key, base, a, b);
      break;
    case K_UINT32: risk_rate_limit_uint32_key(x->key, base, d->u32); break;
    case K_BYTES32: {
      uint8_t id[32];
      for (int i = 0; i < 32; i++)
        id[i] = (uint8_t)(util_hexval(d->bytes32[2 * i]) << 4 | util_hexval(d->bytes32[2 * i + 1]));
      risk_rate_limit_bytes32_key(x->key, base, id);
      break;
    }
    }
    uint64_t set_at = g->t - rndr(g, 86400, 40 * 86400);
    if (d->max_whole == UNLIMITED) {
      x->rl = (struct risk_rate_limit){U256_MAX, U256_ZERO, U256_MAX, set_at};
    } else if (d->max_whole == 0) {
      x->rl = (struct risk_rate_limit){U256_ZERO, U256_ZERO, U256_ZERO, set_at};
    } else {
      u256 max = mul(g, U(d->max_whole), g->pow10[d->dec]);
      u256 slope = U256_ZERO;
      CK(u256_div(&slope, mul(g, U(d->per_day_whole), g->pow10[d->dec]), U(86400)));
      /* last used a few hours ago, with 40-100% of the limit left then */
      u256 last = ppm_of(g, max, rndr(g, 400000, 1000000));
      x->rl = (struct risk_rate_limit){max, slope, last, g->t - rndr(g, 600, 6 * 3600)};
    }
  }
}

/* Funds the ALM proxy's idle balance of asset r with at least amount (minting USDS, swapping). */
static void fund_idle(struct gen *g, int r, u256 amount) {
  if (u256_le(amount, g->idle[r])) return;
  u256 need = u256_sub_wrap(amount, g->idle[r]);
  u256 got = need;
  switch (r) {
  case R_USDS:
  case R_DAI: got = rl_spend(g, RL_USDS_MINT, need); break;
  case R_USDC: got = rl_spend(g, RL_USDS_TO_USDC, need); break;
  case R_USDT:
    got = u256_is_zero(rl_spend(g, RL_CURVE_SUSDS_USDT, mul(g, need, g->pow10[12]))) ? U256_ZERO : need;
    break;
  case R_PYUSD: got = u256_is_zero(rl_spend(g, RL_V4_PY_SWAP, mul(g, need, g->pow10[12]))) ? U256_ZERO : need; break;
  default: got = U256_ZERO;
  }
  g->idle[r] = add(g, g->idle[r], got);
}

static int sparklend_deposit_rl(int r) {
  switch (r) {
  case R_DAI: return RL_AAVE_SP_DAI;
  case R_USDS: return RL_AAVE_SP_USDS;
  case R_USDC: return RL_AAVE_SP_USDC;
  case R_USDT: return RL_AAVE_SP_USDT;
  case R_PYUSD: return RL_AAVE_SP_PYUSD;
  default: return RL_AAVE_SP_WETH;
  }
}

/* The ALM proxy keeps each stablecoin reserve near its target utilization. */
static void alm_rebalance(struct gen *g) {
  static const int rs[] = {R_DAI, R_USDS, R_USDC, R_USDT, R_PYUSD};
  struct dacct *alm = &g->acct[0];
  for (size_t k = 0; k < sizeof rs / sizeof rs[0]; k++) {
    int r = rs[k];
    uint32_t tu = assets[r].target_util_bps + (uint32_t)rndn(g, 300) - 150;
    u256 d = total_debt(g, r), l = g->r[r].st.available_liquidity, dl = add(g, d, l);
    u256 want = muldiv(g, d, U(10000), U(tu)); /* D + L at the target */
    u256 band = ppm_of(g, dl, 20000);          /* act only beyond 2% */
    if (u256_gt(want, add(g, dl, band))) {
      u256 x = rl_spend(g, sparklend_deposit_rl(r), u256_sub_wrap(want, dl));
      fund_idle(g, r, x);
      if (u256_gt(x, g->idle[r])) x = g->idle[r];
      if (u256_is_zero(x)) continue;
      u256 moved = act_amount(g, alm, RISK_ACT_SUPPLY, r, x, false);
      g->idle[r] = u256_sub_wrap(g->idle[r], moved);
      if (u256_lt(moved, x)) rl_refill(g, sparklend_deposit_rl(r), u256_sub_wrap(x, moved));
    } else if (u256_lt(add(g, want, band), dl)) {
      u256 y = act_amount(g, alm, RISK_ACT_WITHDRAW, r, u256_sub_wrap(dl, want), false);
      if (u256_is_zero(y)) continue;
      rl_refill(g, sparklend_deposit_rl(r), y);
      g->idle[r] = add(g, g->idle[r], y);
    }
  }
}

/* Other allocations drift within their deposit limits. */
static void alm_drift(struct gen *g) {
  static const struct {
    int venue, rl;
  } walkers[] = {{VN_AAVE_USDT, RL_AAVE_CORE_USDT},
                 {VN_SUSDE, RL_4626_SUSDE},
                 {VN_SYRUP, RL_4626_SYRUP},
                 {VN_MORPHO, RL_4626_MORPHO},
                 {VN_CURVE, -1},
                 {VN_UNIV4, -1}};
  for (size_t k = 0; k < sizeof walkers / sizeof walkers[0]; k++) {
    int v = walkers[k].venue;
    u256 before = g->alloc[v];
    int64_t z = rnd_normal_micro(g) / 100; /* +-1% around */
    u256 delta = ppm_of(g, before, (uint64_t)(z < 0 ? -z : z));
    if (z > 0) {
      if (walkers[k].rl >= 0) delta = rl_spend(g, walkers[k].rl, delta);
      g->alloc[v] = add(g, before, delta);
    } else {
      g->alloc[v] = sub_sat(before, delta);
      if (walkers[k].rl == RL_AAVE_CORE_USDT) rl_refill(g, walkers[k].rl, delta);
    }
    g->alloc_apr[v] = walk(g, g->alloc_apr[v], 20000, 0, 0);
  }
  /* sUSDS holdings of the ALM proxy */
  int64_t z = rnd_normal_micro(g) / 200;
  u256 d = ppm_of(g, g->alm_susds_shares, (uint64_t)(z < 0 ? -z : z));
  g->alm_susds_shares = z > 0 ? add(g, g->alm_susds_shares, d) : sub_sat(g->alm_susds_shares, d);
}

/* ---------- savings vaults ---------- */

/* The per-second rate of an APY: the rates-conv table constants the spec quotes where there
 * is one, else the bisection (which lands 1 above the table for those three). */
static u256 rate_for_bps(struct gen *g, uint32_t bps) {
  const char *lit = bps == 375    ? SSR_RATE
                    : bps == 500  ? "1000000001547125957863212448"
                    : bps == 1000 ? "1000000003022265980097387650"
                                  : NULL;
  u256 r = U256_ZERO;
  if (lit)
    CK(u256_from_dec(&r, lit, strlen(lit)));
  else
    CK(cli_demo_rate_for_apy_bps(&r, bps));
  return r;
}

static void init_vaults(struct gen *g) {
  for (int k = 0; k < N_VAULTS; k++) {
    const struct vault_def *d = &vaults[k];
    struct dvault *v = &g->v[k];
    v->rate = rate_for_bps(g, d->rate_bps);
    unsigned dec = assets[d->asset].decimals;
    v->supply = mul(g, U(d->supply_whole), g->pow10[dec]);
    if (d->max_bps) {
      v->min_rate = RISK_RAY;
      v->max_rate = rate_for_bps(g, d->max_bps);
      v->cap = mul(g, U(d->cap_whole), g->pow10[dec]);
      v->idle = mul(g, U(d->idle_whole), g->pow10[dec]);
      /* accrued at the current vsr since launch (chi = RAY, rho = launch) */
      v->rho = g->t - rndr(g, 60, 7200);
      CK(risk_savings_chi_at(&v->chi, RISK_RAY, SPARK_VAULT_V2_LAUNCH, v->rate, v->rho));
    } else {
      v->chi = add(g, RISK_RAY, ppm_of(g, RISK_RAY, d->chi_ppm));
      v->rho = g->t - rndr(g, 60, 7200);
    }
  }
  /* the ALM proxy holds 500M USDS worth of sUSDS */
  CK(risk_savings_convert_to_shares(&g->alm_susds_shares, mul(g, U(500000000), g->pow10[18]), g->v[V_SUSDS].chi));
}

static void vault_step(struct gen *g) {
  for (int k = 0; k < N_VAULTS; k++) {
    const struct vault_def *d = &vaults[k];
    struct dvault *v = &g->v[k];
    struct risk_savings_drip dr;
    CK(risk_savings_drip(&dr, v->chi, v->rho, v->rate, v->supply, g->t));
    v->chi = dr.chi, v->rho = dr.rho;
    /* net flow: +-0.4% of the supply's value */
    int64_t z = rnd_normal_micro(g) / 250;
    u256 ta = U256_ZERO;
    CK(risk_savings_convert_to_assets(&ta, v->supply, v->chi));
    u256 amt = ppm_of(g, ta, (uint64_t)(z < 0 ? -z : z));
    if (u256_is_zero(amt)) continue;
    if (!d->max_bps) {
      u256 sh = U256_ZERO;
      if (z > 0) {
        CK(risk_savings_convert_to_shares(&sh, amt, v->chi));
        v->supply = add(g, v->supply, sh);
      } else {
        CK(risk_savings_preview_withdraw(&sh, amt, v->chi));
        v->supply = sub_sat(v->supply, sh);
      }
      continue;
    }
    struct risk_spark_vault sv = {v->chi, v->rho, v->rate, v->supply, v->cap, v->idle}, after;
    enum risk_vault_revert why = RISK_VAULT_OK;
    u256 out = U256_ZERO;
    risk_err e;
    if (z > 0) {
      e = risk_spark_vault_deposit(&after, &out, &why, &sv, amt, g->t);
    } else {
      if (u256_gt(amt, v->idle)) amt = v->idle;
      e = risk_spark_vault_withdraw(&after, &out, &why, &sv, amt, v->supply, g->t);
    }
    if (e == RISK_OK) {
      v->chi = after.chi, v->rho = after.rho, v->supply = after.total_supply, v->idle = after.liquidity;
    } else if (e != RISK_INVALID) {
      failf(g, "vault %s: %s", d->symbol, risk_err_name(e));
    }
    /* idle buffer kept between 1/3 and 5/3 of its target: the ALM proxy takes or returns */
    unsigned dec = assets[d->asset].decimals;
    u256 target = mul(g, U(d->idle_whole), g->pow10[dec]);
    u256 lo = muldiv(g, target, U(1), U(3)), hi = muldiv(g, target, U(5), U(3));
    if (u256_gt(v->idle, hi)) {
      u256 x = u256_sub_wrap(v->idle, target);
      v->idle = target;
      g->idle[d->asset] = add(g, g->idle[d->asset], x); /* takeFromSparkVault (unlimited) */
    } else if (u256_lt(v->idle, lo)) {
      u256 x = u256_sub_wrap(target, v->idle);
      fund_idle(g, d->asset, x);
      if (u256_gt(x, g->idle[d->asset])) x = g->idle[d->asset];
      g->idle[d->asset] = u256_sub_wrap(g->idle[d->asset], x);
      v->idle = add(g, v->idle, x); /* transferAsset to the vault (unlimited) */
    }
  }
}

/* ---------- history: user actions and liquidations ---------- */

#define USER_MIN_HF 1200000000000000000ull /* a user borrows or withdraws only while HF stays >= 1.2 */

/* An action the user takes only if the health factor stays at or above USER_MIN_HF afterwards
 * (the Pool itself allows down to 1): otherwise the account and the reserves are put back.
 * Returns whether it was taken. */
static bool act_cautious(struct gen *g, struct dacct *a, risk_action_kind kind, int r, u256 amount) {
  struct dacct saved = *a;
  struct risk_acct_reserve saved_r[N_RES];
  memcpy(saved_r, g->m->reserves, sizeof saved_r);
  if (u256_is_zero(act_amount(g, a, kind, r, amount, false))) return false;
  struct risk_account_data after;
  if (!evaluate(g, a, &after)) return false;
  if (u256_ge(after.health_factor, U(USER_MIN_HF))) return true;
  *a = saved;
  memcpy(g->m->reserves, saved_r, sizeof saved_r);
  sync_reserves(g);
  return false;
}

static void user_action(struct gen *g, struct dacct *a) {
  if (a->n == 0) return;
  struct risk_account_data before;
  if (!evaluate(g, a, &before)) return;
  bool has_debt = !u256_is_zero(before.total_debt_base);
  const struct dpos *p = &a->p[rndn(g, a->n)];
  int r = p->r;
  uint64_t roll = rndn(g, 100);
  u256 bal = U256_ZERO;
  if (!u256_is_zero(p->sd) && roll < 65) {
    CK(risk_reserve_from_scaled(&bal, p->sd, g->r[r].st.variable_borrow_index));
    /* borrow more; where the Pool or the user's caution says no, repay instead */
    if (roll >= 35 && act_cautious(g, a, RISK_ACT_BORROW, r, ppm_of(g, bal, rndr(g, 50000, 300000)))) return;
    uint64_t pct = rndr(g, 10, 100);
    act_amount(g, a, RISK_ACT_REPAY, r, pct >= 95 ? U256_MAX : ppm_of(g, bal, pct * 10000), false);
  } else if (!u256_is_zero(p->sa)) {
    CK(risk_reserve_from_scaled(&bal, p->sa, g->r[r].st.liquidity_index));
    u256 x = ppm_of(g, bal, rndr(g, 50000, 500000));
    /* supply more (frozen reserves and caps are the Pool's to refuse), else withdraw */
    if ((roll < 80 || !has_debt) && rndn(g, 2) == 0 && !u256_is_zero(act_amount(g, a, RISK_ACT_SUPPLY, r, x, false)))
      return;
    uint64_t pct = has_debt ? rndr(g, 5, 25) : rndr(g, 10, 100);
    u256 y = pct >= 95 ? U256_MAX : ppm_of(g, bal, pct * 10000);
    if (has_debt)
      (void)act_cautious(g, a, RISK_ACT_WITHDRAW, r, y);
    else
      act_amount(g, a, RISK_ACT_WITHDRAW, r, y, false);
  }
}

static int largest(struct gen *g, const struct dacct *a, bool debt) {
  int best = -1;
  u256 bv = U256_ZERO;
  for (unsigned i = 0; i < a->n; i++) {
    const struct dpos *p = &a->p[i];
    if (debt ? u256_is_zero(p->sd) : (u256_is_zero(p->sa) || !p->coll || assets[p->r].lt == 0)) continue;
    u256 v = muldiv(g, debt ? p->sd : p->sa, g->price[p->r], g->pow10[assets[p->r].decimals]);
    if (best < 0 || u256_gt(v, bv)) best = p->r, bv = v;
  }
  return best;
}

/* The collateral side of a liquidation, which is not an account action of the engine's
 * (risk_account_apply has no liquidationCall): the liquidator's part of the seized aTokens is
 * burned for the underlying, the protocol fee moves to the treasury as aTokens, both scaled at
 * the liquidity index as AToken.burn / transferOnLiquidation scale them; the collateral bit
 * goes off with the last of the balance. */
static void seize_collateral(struct gen *g, struct dacct *a, int c, const struct risk_liquidation *liq) {
  struct dpos *p = find_pos(a, c);
  if (!p) return;
  struct risk_acct_reserve *x = &g->m->reserves[c];
  u256 s_fee = U256_ZERO, s_liq = U256_ZERO;
  if (!u256_is_zero(liq->protocol_fee)) CK(risk_reserve_to_scaled(&s_fee, liq->protocol_fee, x->liquidity_index));
  if (!u256_is_zero(liq->to_liquidator)) CK(risk_reserve_to_scaled(&s_liq, liq->to_liquidator, x->liquidity_index));
  if (u256_gt(s_fee, p->sa)) s_fee = p->sa;
  if (liq->clears_collateral || u256_gt(add(g, s_fee, s_liq), p->sa)) s_liq = u256_sub_wrap(p->sa, s_fee);
  p->sa = u256_sub_wrap(p->sa, add(g, s_fee, s_liq));
  if (u256_is_zero(p->sa)) p->coll = false;
  x->a_token_scaled_total_supply = sub_sat(x->a_token_scaled_total_supply, s_liq);
  x->available_liquidity = sub_sat(x->available_liquidity, liq->to_liquidator);
  a->changed = true;
  if (!u256_is_zero(s_fee)) {
    struct dacct *t = &g->acct[1];
    struct dpos *tp = find_pos(t, c);
    if (!tp) {
      if (t->n >= MAXPOS) {
        failf(g, "too many positions");
        return;
      }
      unsigned k = t->n++;
      while (k > 0 && t->p[k - 1].r > c) {
        t->p[k] = t->p[k - 1];
        k--;
      }
      tp = &t->p[k];
      *tp = (struct dpos){(uint8_t)c, false, false, U256_ZERO, U256_ZERO};
    }
    tp->sa = add(g, tp->sa, s_fee);
    t->changed = true;
  }
  /* a position left without balances is dropped, as the snapshot format drops it */
  to_risk_account(a, g->ra);
  from_risk_account(g, g->ra, a);
  sync_reserves(g);
}

/* Liquidates accounts below HF 1 whose debt is worth liquidating (gas: > $2,000). */
static void liquidations(struct gen *g) {
  for (size_t i = 2; i < g->n_acct; i++) {
    struct dacct *a = &g->acct[i];
    if (a->n == 0) continue;
    bool any_debt = false;
    for (unsigned j = 0; j < a->n; j++)
      any_debt |= !u256_is_zero(a->p[j].sd);
    if (!any_debt) continue;
    struct risk_account_data d;
    if (!evaluate(g, a, &d)) return;
    if (u256_ge(d.health_factor, RISK_WAD)) continue;
    if (u256_lt(d.total_debt_base, U(200000000000ull))) continue; /* $2,000 */
    if (rndn(g, 100) >= 60) continue;
    int c = largest(g, a, false), r = largest(g, a, true);
    if (c < 0 || r < 0) continue;
    to_risk_account(a, g->ra);
    struct risk_liquidation liq;
    CK(risk_liquidation_compute(g->m, g->ra, (uint16_t)c, (uint16_t)r, U256_MAX, &liq));
    if (g->failed || liq.error != RISK_ONCHAIN_OK) continue;
    /* the liquidator repays on the user's behalf: the Pool burns the debt as a repay does */
    struct risk_action x = {
        .kind = RISK_ACT_REPAY, .reserve = (uint16_t)r, .amount = liq.debt_to_cover, .on_behalf = true};
    if (act(g, a, &x) != RISK_ONCHAIN_OK) continue;
    seize_collateral(g, a, c, &liq);
  }
}

/* ---------- snapshot output ---------- */

static void emit_irm(struct gen *g, int i) {
  const struct irm_def *d = &irms[assets[i].irm];
  const struct risk_irm *m = &g->r[i].irm;
  struct jw *w = &g->w;
  struct risk_irm_params p;
  CK(risk_irm_get_params(&p, m));
  static const char *kinds[] = {"variable_borrow", "default", "rate_target_base", "rate_target_kink"};
  jw_obj(w);
  kaddr_lit(g, "address", d->address);
  jw_kstr(w, "kind", kinds[m->kind]);
  jw_ku256(w, "optimal_usage_ratio", p.optimal_usage_ratio);
  jw_ku256(w, "base_variable_borrow_rate", p.base_variable_borrow_rate);
  jw_ku256(w, "variable_rate_slope1", p.variable_rate_slope1);
  jw_ku256(w, "variable_rate_slope2", p.variable_rate_slope2);
  if (m->kind == RISK_IRM_RATE_TARGET_BASE || m->kind == RISK_IRM_RATE_TARGET_KINK) {
    /* int256: a minus sign in front of the magnitude */
    char b[U256_DEC_MAX + 1];
    size_t neg = m->spread_negative && !u256_is_zero(m->spread) ? 1 : 0;
    b[0] = '-';
    size_t n = jw_dec(m->spread, b + neg);
    jw_key(w, "spread");
    jw_plain(w, b, n + neg);
    jw_key(w, "rate_source");
    jw_obj(w);
    jw_kstr(w, "kind", d->source == SRC_LST ? "capped_fallback" : "ssr");
    kaddr_lit(g, "address", d->source == SRC_LST ? LST_CAPPED_SOURCE : SSR_RATE_SOURCE);
    u256 apr = U256_ZERO;
    CK(risk_rate_source_apr(&apr, &m->source));
    jw_ku256(w, "apr", apr);
    jw_kint(w, "decimals", d->source == SRC_LST ? 18 : 27);
    if (d->source == SRC_LST) {
      jw_ku256(w, "lower_bound", m->source.lower_bound);
      jw_ku256(w, "upper_bound", m->source.upper_bound);
      jw_ku256(w, "default_rate", m->source.default_rate);
    }
    jw_obj_end(w);
  }
  jw_obj_end(w);
}

static void emit_account(struct gen *g, const struct dacct *a) {
  struct jw *w = &g->w;
  jw_obj(w);
  kaddr(g, "address", a->addr);
  jw_kint(w, "emode_category", a->emode);
  jw_key(w, "positions");
  jw_arr(w);
  for (unsigned i = 0; i < a->n; i++) {
    const struct dpos *p = &a->p[i];
    jw_obj(w);
    kaddr(g, "asset", g->r[p->r].addr);
    jw_ku256(w, "scaled_a_token_balance", p->sa);
    jw_ku256(w, "scaled_variable_debt", p->sd);
    jw_kbool(w, "collateral", p->coll);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_obj_end(w);
}

static void emit_snapshot(struct gen *g, bool first) {
  struct jw *w = &g->w;
  uint8_t hb[48], h[32];
  int n = snprintf((char *)hb, sizeof hb, "sparkd-demo-block/%" PRIu64 "/%" PRIu64, g->o.seed, g->block);
  risk_keccak256(hb, (size_t)n, h);
  jw_obj(w);
  jw_kstr(w, "format", "sparkd.snapshot/1");
  jw_kint(w, "chain_id", 1);
  jw_key(w, "block");
  jw_obj(w);
  jw_kint(w, "number", (int64_t)g->block);
  khex32(g, "hash", h);
  jw_kint(w, "timestamp", (int64_t)g->t);
  jw_obj_end(w);
  if (first) {
    jw_key(w, "assets");
    jw_arr(w);
    for (int i = 0; i < N_ASSETS; i++) {
      jw_obj(w);
      kaddr_lit(g, "address", assets[i].address);
      jw_kstr(w, "symbol", assets[i].symbol);
      jw_kint(w, "decimals", assets[i].decimals);
      jw_kstr(w, "name", assets[i].name);
      jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "emode_categories");
    jw_arr(w);
    for (size_t k = 0; k < sizeof emodes / sizeof emodes[0]; k++) {
      jw_obj(w);
      jw_kint(w, "id", emodes[k].id);
      jw_kint(w, "ltv", emodes[k].ltv);
      jw_kint(w, "liquidation_threshold", emodes[k].lt);
      jw_kint(w, "liquidation_bonus", emodes[k].lb);
      jw_kstr(w, "price_source", ZERO_ADDR);
      jw_kstr(w, "label", emodes[k].label);
      jw_obj_end(w);
    }
    jw_arr_end(w);
  }
  jw_key(w, "reserves");
  jw_arr(w);
  for (int i = 0; i < N_RES; i++) {
    const struct dres *r = &g->r[i];
    struct risk_reserve_config c;
    reserve_config(r, i, &c);
    u256 bitmap = U256_ZERO;
    CK(risk_reserve_config_encode(&c, &bitmap));
    jw_obj(w);
    kaddr(g, "asset", r->addr);
    jw_kint(w, "id", i);
    jw_ku256(w, "configuration", bitmap);
    jw_ku256(w, "liquidity_index", r->st.liquidity_index);
    jw_ku256(w, "variable_borrow_index", r->st.variable_borrow_index);
    jw_ku256(w, "current_liquidity_rate", r->st.current_liquidity_rate);
    jw_ku256(w, "current_variable_borrow_rate", r->st.current_variable_borrow_rate);
    jw_kint(w, "last_update_timestamp", (int64_t)r->st.last_update_timestamp);
    kaddr_lit(g, "a_token", assets[i].a_token);
    kaddr_lit(g, "variable_debt_token", assets[i].debt_token);
    jw_ku256(w, "a_token_scaled_total_supply", r->st.a_token_scaled_total_supply);
    jw_ku256(w, "variable_debt_scaled_total_supply", r->st.variable_debt_scaled_total_supply);
    jw_ku256(w, "accrued_to_treasury", r->st.accrued_to_treasury);
    jw_ku256(w, "isolation_mode_total_debt", r->st.isolation_mode_total_debt);
    jw_ku256(w, "available_liquidity", r->st.available_liquidity);
    jw_key(w, "interest_rate_strategy");
    emit_irm(g, i);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "prices");
  jw_arr(w);
  for (int i = 0; i < N_RES; i++) {
    jw_obj(w);
    kaddr(g, "asset", g->r[i].addr);
    jw_ku256(w, "price", g->price[i]);
    kaddr_lit(g, "source", assets[i].price_source);
    jw_kint(w, "updated_at", (int64_t)g->t);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  /* accounts: all of them in the first snapshot, then those that changed */
  size_t listed = 0;
  for (size_t i = 0; i < g->n_acct; i++) {
    struct dacct *a = &g->acct[i];
    if (first ? a->n == 0 : !a->changed) continue;
    if (listed++ == 0) {
      jw_kstr(w, "accounts_mode", first ? "full" : "delta");
      jw_key(w, "accounts");
      jw_arr(w);
    }
    emit_account(g, a);
    flush_some(g);
  }
  if (listed) {
    jw_arr_end(w);
  } else if (first) {
    jw_kstr(w, "accounts_mode", "full");
    jw_key(w, "accounts");
    jw_arr(w);
    jw_arr_end(w);
  }
  for (size_t i = 0; i < g->n_acct; i++)
    g->acct[i].changed = false;
  /* savings vaults */
  jw_key(w, "savings_vaults");
  jw_arr(w);
  for (int k = 0; k < N_VAULTS; k++) {
    const struct vault_def *d = &vaults[k];
    const struct dvault *v = &g->v[k];
    jw_obj(w);
    jw_kstr(w, "kind", d->kind);
    kaddr_lit(g, "address", d->address);
    kaddr(g, "asset", g->r[d->asset].addr);
    jw_kstr(w, "symbol", d->symbol);
    jw_kint(w, "decimals", d->max_bps ? assets[d->asset].decimals : 18u);
    jw_ku256(w, "chi", v->chi);
    jw_kint(w, "rho", (int64_t)v->rho);
    jw_ku256(w, "rate", v->rate);
    if (d->max_bps) {
      jw_ku256(w, "min_rate", v->min_rate);
      jw_ku256(w, "max_rate", v->max_rate);
      jw_ku256(w, "deposit_cap", v->cap);
    }
    jw_ku256(w, "total_supply", v->supply);
    if (d->max_bps) {
      unsigned dec = assets[d->asset].decimals;
      jw_ku256(w, "idle_assets", v->idle);
      jw_key(w, "intents");
      jw_obj(w);
      kaddr_lit(g, "address", INTENTS);
      jw_ku256(w, "min_assets", mul(g, U(d->intent_min), g->pow10[dec]));
      jw_ku256(w, "max_assets", mul(g, U(d->intent_max), g->pow10[dec]));
      jw_kint(w, "max_deadline_seconds", 604800);
      jw_obj_end(w);
    }
    jw_obj_end(w);
  }
  jw_arr_end(w);
  /* liquidity layer */
  jw_key(w, "liquidity_layer");
  jw_obj(w);
  kaddr_lit(g, "alm_proxy", ALM_PROXY);
  jw_key(w, "venues");
  jw_arr(w);
  for (int v = 0; v < N_VENUES; v++) {
    jw_obj(w);
    jw_kstr(w, "id", venues[v].id);
    jw_kstr(w, "kind", venues[v].kind);
    kaddr_lit(g, "address", venues[v].address);
    kaddr_lit(g, "asset", assets[venues[v].asset].address);
    jw_kstr(w, "label", venues[v].label);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "allocations");
  jw_arr(w);
  for (int v = 0; v < N_VENUES; v++) {
    u256 amount, apr;
    if (v <= VN_SP_WETH) {
      int r = venues[v].asset;
      const struct dpos *p = find_pos(&g->acct[0], r);
      amount = U256_ZERO;
      if (p) CK(risk_reserve_from_scaled(&amount, p->sa, g->r[r].st.liquidity_index));
      apr = g->r[r].st.current_liquidity_rate;
    } else if (v == VN_SUSDS) {
      CK(risk_savings_convert_to_assets(&amount, g->alm_susds_shares, g->v[V_SUSDS].chi));
      CK(risk_savings_apr_ray(&apr, g->v[V_SUSDS].rate));
    } else if (!u256_is_zero(g->alloc[v])) {
      amount = g->alloc[v], apr = g->alloc_apr[v];
    } else {
      continue;
    }
    jw_obj(w);
    jw_kstr(w, "venue", venues[v].id);
    kaddr_lit(g, "asset", assets[venues[v].asset].address);
    jw_ku256(w, "amount", amount);
    jw_ku256(w, "apr", apr);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "idle");
  jw_arr(w);
  static const int idle_assets[] = {R_USDS, R_DAI, R_USDC, R_USDT, R_PYUSD, R_WETH};
  for (size_t k = 0; k < sizeof idle_assets / sizeof idle_assets[0]; k++) {
    jw_obj(w);
    kaddr(g, "asset", g->r[idle_assets[k]].addr);
    jw_ku256(w, "amount", g->idle[idle_assets[k]]);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "rate_limits");
  jw_arr(w);
  for (int k = 0; k < N_RL; k++) {
    const struct rl_def *d = &rls[k];
    const struct drl *x = &g->rl[k];
    jw_obj(w);
    khex32(g, "key", x->key);
    jw_kstr(w, "name", d->name);
    if (d->asset >= 0) kaddr_lit(g, "asset", assets[d->asset].address);
    if (d->target) kaddr_lit(g, "target", d->target);
    jw_ku256(w, "max_amount", x->rl.max_amount);
    jw_ku256(w, "slope", x->rl.slope);
    jw_ku256(w, "last_amount", x->rl.last_amount);
    jw_kint(w, "last_updated", (int64_t)x->rl.last_updated);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_obj_end(w);
  /* kill switch */
  jw_key(w, "kill_switch");
  jw_obj(w);
  kaddr_lit(g, "address", KILL_SWITCH);
  jw_kbool(w, "triggered", false);
  jw_key(w, "oracles");
  jw_arr(w);
  for (size_t k = 0; k < N_KS; k++) {
    uint64_t one = ks_oracles[k].decimals == 18 ? 1000000000000000000ull : 100000000ull;
    jw_obj(w);
    kaddr_lit(g, "address", ks_oracles[k].address);
    jw_kstr(w, "label", ks_oracles[k].label);
    jw_ku256(w, "threshold", U(one / 100 * 95));
    jw_ku256(w, "latest_answer", g->ks_answer[k]);
    jw_kint(w, "decimals", ks_oracles[k].decimals);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_obj_end(w);
  jw_obj_end(w);
  jw_nl(w);
  if (!jw_flush(w, g->out)) g->write_failed = true;
}

/* ---------- driver ---------- */

static void init_state(struct gen *g) {
  for (unsigned i = 0; i <= 36; i++)
    CK(u256_pow10(&g->pow10[i], i));
  uint64_t x = g->o.seed ^ 0x5350524B44454D4Full; /* "SPRKDEMO" */
  for (int i = 0; i < 4; i++)
    g->s[i] = splitmix64(&x);
  g->t0 = CLI_DEMO_END_TIMESTAMP - (uint64_t)g->o.days * 86400;
  g->t = g->t0;
  g->block = CLI_DEMO_END_BLOCK - (uint64_t)g->o.days * 86400 / CLI_DEMO_BLOCK_SECONDS;
  /* starting prices (8 decimals), +-5% by seed */
  g->eth_usd = ppm_of(g, U(320000000000ull), rndr(g, 950000, 1050000));
  g->btc_usd = ppm_of(g, U(9500000000000ull), rndr(g, 950000, 1050000));
  g->gno_usd = ppm_of(g, U(13000000000ull), rndr(g, 950000, 1050000));
  g->eth0 = g->eth_usd, g->btc0 = g->btc_usd, g->gno0 = g->gno_usd;
  g->lst_apr = U(29000000000000000ull + rndn(g, 2000000000000000ull));
  for (int i = 0; i < N_RES; i++)
    g->ratio[i] = mul(g, U(assets[i].ratio_ppm), U(1000000000000ull));
  for (size_t k = 0; k < N_KS; k++) {
    uint64_t one = ks_oracles[k].decimals == 18 ? 1000000000000000000ull : 100000000ull;
    g->ks_answer[k] = U(one / 10000 * rndr(g, 9985, 10002));
  }
  init_vaults(g);
  set_prices(g);
  for (int i = 0; i < N_RES; i++) {
    struct dres *r = &g->r[i];
    parse_addr(g, assets[i].address, r->addr);
    memset(&r->st, 0, sizeof r->st);
    r->st.liquidity_index = add(g, RISK_RAY, ppm_of(g, RISK_RAY, assets[i].li_ppm));
    r->st.variable_borrow_index = add(g, RISK_RAY, ppm_of(g, RISK_RAY, assets[i].bi_ppm));
    r->st.last_update_timestamp = g->t;
    r->supply_cap = assets[i].supply_cap, r->borrow_cap = assets[i].borrow_cap;
    r->supply_inc_t = r->borrow_inc_t = g->t - 43200;
    setup_irm(g, i);
  }
  init_rate_limits(g);
  /* liquidity-layer allocations outside SparkLend (whole tokens) and their yields */
  static const struct {
    int v;
    uint64_t whole;
    uint32_t apr_bps;
  } al[] = {{VN_AAVE_USDT, 80000000, 340}, {VN_SUSDE, 150000000, 520}, {VN_SYRUP, 40000000, 640},
            {VN_MORPHO, 60000000, 450},    {VN_CURVE, 8000000, 180},   {VN_UNIV4, 6000000, 150}};
  for (size_t k = 0; k < sizeof al / sizeof al[0]; k++) {
    g->alloc[al[k].v] = mul(g, U(al[k].whole), g->pow10[assets[venues[al[k].v].asset].decimals]);
    g->alloc_apr[al[k].v] = ray_bps(g, al[k].apr_bps);
  }
  static const struct {
    int r;
    uint64_t whole;
  } idle[] = {{R_USDS, 25000000}, {R_DAI, 5000000},   {R_USDC, 40000000},
              {R_USDT, 30000000}, {R_PYUSD, 5000000}, {R_WETH, 800}};
  for (size_t k = 0; k < sizeof idle / sizeof idle[0]; k++)
    g->idle[idle[k].r] = mul(g, U(idle[k].whole), g->pow10[assets[idle[k].r].decimals]);
}

int cli_demo_generate(FILE *out, const struct cli_demo_opts *opts, char *err, size_t errlen) {
  struct gen *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  g->o = *opts;
  g->out = out, g->err = err, g->errlen = errlen;
  if (g->o.accounts < 1 || g->o.accounts > CLI_DEMO_MAX_ACCOUNTS || g->o.days > CLI_DEMO_MAX_DAYS) {
    snprintf(err, errlen, "accounts must be 1..%d and days 0..%d", CLI_DEMO_MAX_ACCOUNTS, CLI_DEMO_MAX_DAYS);
    free(g);
    return -1;
  }
  g->n_acct = (size_t)g->o.accounts + 2;
  g->acct = calloc(g->n_acct, sizeof *g->acct);
  g->m = calloc(1, sizeof *g->m);
  g->ra = calloc(1, sizeof *g->ra);
  int rc = -1;
  if (!g->acct || !g->m || !g->ra) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  init_state(g);
  /* the two protocol accounts: ALM proxy (liquidity layer) and the SparkLend treasury */
  parse_addr(g, ALM_PROXY, g->acct[0].addr);
  g->acct[0].kind = K_ALM;
  parse_addr(g, TREASURY, g->acct[1].addr);
  g->acct[1].kind = K_TREASURY;
  build_market(g, true);
  for (size_t i = 2; i < g->n_acct && !g->failed; i++)
    make_account(g, &g->acct[i], i - 2);
  for (int i = 0; i < N_RES && !g->failed; i++)
    fill_supply(g, i);
  for (int i = 0; i < N_RES; i++) {
    recompute_rates(g, i);
    run_cap_automator(g, i, true);
  }
  if (g->failed) goto done;
  emit_snapshot(g, true);
  unsigned steps = g->o.days * (86400 / CLI_DEMO_STEP_SECONDS);
  size_t per_step = g->o.accounts / 150 ? g->o.accounts / 150 : 1;
  for (unsigned s = 1; s <= steps && !g->failed && !g->write_failed; s++) {
    g->step = s;
    g->t += CLI_DEMO_STEP_SECONDS;
    g->block += CLI_DEMO_STEP_SECONDS / CLI_DEMO_BLOCK_SECONDS;
    move_prices(g);
    vault_step(g);
    set_prices(g);
    for (int i = 0; i < N_RES; i++) {
      reserve_config(&g->r[i], i, &g->r[i].st.config); /* the reserve factor drives the treasury accrual */
      CK(risk_reserve_update_state(&g->r[i].st, &g->r[i].st, g->t));
    }
    build_market(g, false);
    for (size_t k = 0; k < per_step; k++)
      user_action(g, &g->acct[2 + rndn(g, g->o.accounts)]);
    liquidations(g);
    alm_rebalance(g);
    alm_drift(g);
    for (int i = 0; i < N_RES; i++) {
      recompute_rates(g, i);
      run_cap_automator(g, i, false);
    }
    if (g->failed) break;
    emit_snapshot(g, false);
    if (g->write_failed) break;
  }
  if (g->failed) goto done;
  if (g->write_failed || fflush(out) != 0 || ferror(out)) {
    snprintf(err, errlen, g->w.oom ? "out of memory" : "write error");
    goto done;
  }
  rc = 0;
done:
  jw_free(&g->w);
  free(g->acct);
  free(g->m);
  free(g->ra);
  free(g);
  return rc;
}
