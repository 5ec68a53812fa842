// Differential check of GET /v1/accounts against @aave/math-utils 1.38.0 formatUserSummary.
//
//   node tests/diff/accounts_api_diff.mjs BASE_URL CHAIN MIN_ACCOUNTS
//
// Reads the chain's reserves (GET /v1/markets/{chain}/reserves) and eMode categories, walks the
// watch list (GET /v1/accounts/{chain}) for at least MIN_ACCOUNTS addresses, fetches each
// account, and recomputes totals, LTV, liquidation threshold, health factor and the isolation
// flag with the library from the reserve data the API returned. The API's reserve indexes are
// already updated to the block's timestamp, so the library is given lastUpdateTimestamp =
// currentTimestamp (no accrual: docs/aave-math-utils-departures.md "Equal to the chain").
// What remains are the departures that doc derives bounds for, and only those are allowed:
//   §3 balances: library double rounding, |Δbalance| <= 2 wei (|ΔN| = 0 here);
//   §4 values: the chain floors per asset, |Δvalue_i| <= ceil(2·price/10^dec) + 1 base units,
//      summed over the positions that count for the total;
//   §5 avg LTV / LT: |Δ| < 1 + max_i(x_i)·B/(C − B) bps (checked when C > 2B);
//   §6 HF: the library's value inside [(C−B_C)(LT−w) / (D+B_D), (C+B_C)(LT+1+w) / (D−B_D)] / 1e4,
//      and with no chain debt (HF null) the library's debt within B_D;
//   §8 isolation flag equal; §9 eMode mapped as the doc says.
// Totals are compared exactly in BigInt; the ratio intervals in double precision with a 1e-12
// relative slack (the intervals are at least 1 bps wide). Prints one line per failure and a
// summary; exits 1 on any failure, 2 on a usage or fetch problem.
import * as mu from '@aave/math-utils';

const [base, chain, minArg] = process.argv.slice(2);
if (!base || !chain) {
  console.error('usage: accounts_api_diff.mjs BASE_URL CHAIN MIN_ACCOUNTS');
  process.exit(2);
}
const MIN = Number(minArg || 1000);

async function get(path) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(base + path);
    if (r.status === 200) return r.json();
    if (attempt > 20) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

// Decimal string -> BigInt scaled by 10^k (truncated beyond k digits; inputs have at most k).
function dec(s, k) {
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  const [i, f = ''] = s.split('.');
  const v = BigInt(i + (f + '0'.repeat(k)).slice(0, k));
  return neg ? -v : v;
}
const pow10 = (n) => 10n ** BigInt(n);
const ceilDiv = (a, b) => (a + b - 1n) / b;

const reservesResp = await get(`/v1/markets/${chain}/reserves`);
const emodeResp = await get(`/v1/markets/${chain}/emode-categories`);
const now = reservesResp.as_of.block_timestamp;
const reserves = reservesResp.data;
const byAddr = new Map(reserves.map((r) => [r.address.toLowerCase(), r]));
const maxId = Math.max(...reserves.map((r) => r.reserve_id));
const cats = new Map(emodeResp.data.map((c) => [c.id, c]));

function bitmap(pred) {
  let s = '';
  for (let id = maxId; id >= 0; id--) {
    const r = reserves.find((x) => x.reserve_id === id);
    s += r && pred(r) ? '1' : '0';
  }
  return s;
}
const eModes = emodeResp.data.map((c) => ({
  id: c.id,
  eMode: {
    ltv: String(c.ltv_bps),
    liquidationThreshold: String(c.liquidation_threshold_bps),
    liquidationBonus: String(c.liquidation_bonus_bps),
    label: c.label,
    collateralBitmap: bitmap((r) => r.emode_category === c.id && r.liquidation_threshold_bps !== 0),
    borrowableBitmap: bitmap((r) => r.emode_category === c.id),
    ltvzeroBitmap: bitmap((r) => r.emode_category === c.id && r.ltv_bps === 0),
  },
}));

const formatted = reserves.map((r) =>
  mu.formatReserve({
    reserve: {
      id: r.address.toLowerCase(),
      underlyingAsset: r.address.toLowerCase(),
      name: r.name,
      symbol: r.symbol,
      decimals: r.decimals,
      baseLTVasCollateral: String(r.ltv_bps),
      reserveLiquidationThreshold: String(r.liquidation_threshold_bps),
      reserveLiquidationBonus: String(r.liquidation_bonus_bps),
      reserveFactor: String(r.reserve_factor_bps),
      usageAsCollateralEnabled: r.liquidation_threshold_bps !== 0,
      borrowingEnabled: r.flags.borrowing_enabled,
      isActive: r.flags.active,
      isFrozen: r.flags.frozen,
      liquidityIndex: r.liquidity_index_ray,
      variableBorrowIndex: r.variable_borrow_index_ray,
      liquidityRate: r.liquidity_rate_ray,
      variableBorrowRate: r.variable_borrow_rate_ray,
      lastUpdateTimestamp: now,
      availableLiquidity: r.available_liquidity,
      totalScaledVariableDebt: '0',
      priceInMarketReferenceCurrency: r.price ?? '0',
      priceOracle: '0x0000000000000000000000000000000000000000',
      variableRateSlope1: '0',
      variableRateSlope2: '0',
      baseVariableBorrowRate: '0',
      optimalUsageRatio: '0',
      isPaused: r.flags.paused,
      debtCeiling: String(r.debt_ceiling),
      debtCeilingDecimals: 2,
      isolationModeTotalDebt: '0',
      borrowCap: '0',
      supplyCap: '0',
      borrowableInIsolation: r.flags.borrowable_in_isolation,
      accruedToTreasury: '0',
      unbacked: '0',
      originalId: r.reserve_id,
    },
    currentTimestamp: now,
    eModes,
  }),
);

// Addresses from the watch list (the API's own pagination).
const addresses = [];
let cursor = null;
do {
  const page = await get(`/v1/accounts/${chain}?limit=500` + (cursor ? `&cursor=${cursor}` : ''));
  for (const a of page.data) addresses.push(a.address);
  cursor = page.next_cursor;
} while (cursor && addresses.length < MIN);
if (addresses.length < MIN) {
  console.error(`only ${addresses.length} accounts listed, need ${MIN}`);
  process.exit(2);
}

let failures = 0;
const stats = { accounts: 0, positions: 0, hf_checked: 0, ratio_skipped: 0, max_hf_rel: 0, max_coll_diff: 0n };
function fail(addr, what) {
  failures++;
  if (failures <= 50) console.log(`FAIL ${addr}: ${what}`);
}

async function check(addr) {
  const a = await get(`/v1/accounts/${chain}/${addr}`);
  stats.accounts++;
  const userReserves = a.positions.map((p) => ({
    underlyingAsset: p.asset.toLowerCase(),
    scaledATokenBalance: p.scaled_supplied,
    usageAsCollateralEnabledOnUser: p.collateral,
    scaledVariableDebt: p.scaled_borrowed,
  }));
  const s = mu.formatUserSummary({
    currentTimestamp: now,
    marketReferencePriceInUsd: '100000000',
    marketReferenceCurrencyDecimals: 8,
    userReserves,
    formattedReserves: formatted,
    userEmodeCategoryId: a.emode_category,
  });
  // §4 bounds and the largest LTV / LT among the counted collateral.
  let BC = 0n,
    BD = 0n,
    maxLtv = 0,
    maxLt = 0;
  for (const p of a.positions) {
    stats.positions++;
    const r = byAddr.get(p.asset.toLowerCase());
    const price = BigInt(r.price ?? '0');
    const b = ceilDiv(2n * price, pow10(r.decimals)) + 1n;
    const inCat = a.emode_category !== 0 && r.emode_category === a.emode_category;
    const cat = inCat ? cats.get(a.emode_category) : null;
    const lt = r.liquidation_threshold_bps === 0 ? 0 : cat ? cat.liquidation_threshold_bps : r.liquidation_threshold_bps;
    const ltv = r.ltv_bps === 0 ? 0 : cat ? cat.ltv_bps : r.ltv_bps;
    if (p.collateral && lt !== 0 && BigInt(p.scaled_supplied) !== 0n) {
      BC += b;
      maxLtv = Math.max(maxLtv, ltv);
      maxLt = Math.max(maxLt, lt);
    }
    if (BigInt(p.scaled_borrowed) !== 0n) BD += b;
  }
  const C = BigInt(a.total_collateral_base),
    D = BigInt(a.total_debt_base);
  const libC = dec(s.totalCollateralMarketReferenceCurrency, 20),
    libD = dec(s.totalBorrowsMarketReferenceCurrency, 20);
  const k = pow10(12); // base units (1e-8 USD) -> 1e-20 USD
  const dC = libC > C * k ? libC - C * k : C * k - libC;
  const dD = libD > D * k ? libD - D * k : D * k - libD;
  if (dC > BC * k) fail(addr, `total collateral ${a.total_collateral_base} vs library ${s.totalCollateralMarketReferenceCurrency} (bound ${BC})`);
  if (dD > BD * k) fail(addr, `total debt ${a.total_debt_base} vs library ${s.totalBorrowsMarketReferenceCurrency} (bound ${BD})`);
  if (dC / k > stats.max_coll_diff) stats.max_coll_diff = dC / k;
  if (s.isInIsolationMode !== a.isolated) fail(addr, `isolated ${a.isolated} vs library ${s.isInIsolationMode}`);

  const slack = 1e-12;
  const Cn = Number(C),
    BCn = Number(BC),
    Dn = Number(D),
    BDn = Number(BD);
  let wLtv = null,
    wLt = null;
  if (C > 2n * BC) {
    wLtv = 1 + (maxLtv * BCn) / (Cn - BCn);
    wLt = 1 + (maxLt * BCn) / (Cn - BCn);
    const libLtv = Number(s.currentLoanToValue) * 1e4,
      libLt = Number(s.currentLiquidationThreshold) * 1e4;
    if (Math.abs(libLtv - a.current_ltv_bps) > wLtv * (1 + slack))
      fail(addr, `ltv ${a.current_ltv_bps} bps vs library ${libLtv} (bound ${wLtv})`);
    if (Math.abs(libLt - a.current_liquidation_threshold_bps) > wLt * (1 + slack))
      fail(addr, `liquidation threshold ${a.current_liquidation_threshold_bps} bps vs library ${libLt} (bound ${wLt})`);
  } else {
    stats.ratio_skipped++;
  }
  if (a.health_factor === null) {
    if (s.healthFactor !== '-1' && libD > BD * k) fail(addr, `no chain debt but library debt ${s.totalBorrowsMarketReferenceCurrency}`);
  } else if (wLt !== null && D > BD) {
    const LT = a.current_liquidation_threshold_bps;
    const lo = ((Cn - BCn) * Math.max(LT - wLt, 0)) / 1e4 / (Dn + BDn);
    const hi = ((Cn + BCn) * (LT + 1 + wLt)) / 1e4 / (Dn - BDn);
    const lib = Number(s.healthFactor);
    if (lib < lo * (1 - slack) || lib > hi * (1 + slack))
      fail(addr, `health factor ${a.health_factor} vs library ${s.healthFactor} (interval ${lo} .. ${hi})`);
    const chainHf = Number(a.health_factor);
    if (chainHf > 0) stats.max_hf_rel = Math.max(stats.max_hf_rel, Math.abs(lib - chainHf) / chainHf);
    stats.hf_checked++;
  }
}

const queue = addresses.slice();
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (queue.length) await check(queue.shift());
  }),
);
console.log(
  `accounts ${stats.accounts}, positions ${stats.positions}, health factors checked ${stats.hf_checked}, ` +
    `ratio checks skipped (dust collateral) ${stats.ratio_skipped}, largest collateral difference ` +
    `${stats.max_coll_diff} base units, largest relative HF difference ${stats.max_hf_rel.toExponential(3)}, ` +
    `failures ${failures}`,
);
process.exit(failures ? 1 : 0);
