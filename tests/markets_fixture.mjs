// Writes the markets test fixture (two snapshots of a small SparkLend market) and the values
// tests/check_api_markets.c expects, computed independently of sparkd: @aave/math-utils 1.38.0 for
// rayMul / rayDiv / rayPow / wadToRay, and BigInt transcriptions of spec protocol-math
// §2.3 (linear and 3-term compounded interest, treasury accrual) and §2.4 (Default strategy).
//
//   node tests/markets_fixture.mjs    (from the repository root; rewrites the three files)
import { writeFileSync } from 'node:fs';
import { rayMul as muRayMul, rayDiv as muRayDiv, rayPow as muRayPow, wadToRay as muWadToRay } from '@aave/math-utils';

const RAY = 10n ** 27n, HALF_RAY = RAY / 2n, YEAR = 31536000n;
const big = (x) => BigInt(x.toFixed(0));
const rayMul = (a, b) => big(muRayMul(a.toString(), b.toString()));
const rayDiv = (a, b) => big(muRayDiv(a.toString(), b.toString()));
const rayPow = (a, p) => big(muRayPow(a.toString(), p.toString()));
const wadToRay = (a) => big(muWadToRay(a.toString()));
const percentMul = (v, p) => (v * p + 5000n) / 10000n;
// spec §2.3 normalizedIncome. Not math-utils' getReserveNormalizedIncome: its linear interest rounds
// rate*dt/YEAR half-up where MathUtils.calculateLinearInterest floors (1 wei apart on USDT here).
const income = (rate, index, t0, t) => (t === t0 ? index : rayMul(RAY + (rate * (t - t0)) / YEAR, index));
// spec §2.3 compounded(rate, t0, t), BigInt
function compounded(rate, t0, t) {
  const e = t - t0;
  if (e === 0n) return RAY;
  const em1 = e - 1n, em2 = e > 2n ? e - 2n : 0n;
  const b2 = rayMul(rate, rate) / (YEAR * YEAR);
  const b3 = rayMul(b2, rate) / YEAR;
  const s2 = (e * em1 * b2) / 2n, s3 = (e * em1 * em2 * b3) / 6n;
  return RAY + (rate * e) / YEAR + s2 + s3;
}
const debtIndex = (rate, index, t0, t) => (t === t0 ? index : rayMul(compounded(rate, t0, t), index));
const apy = (apr) => rayPow(RAY + apr / YEAR, YEAR) - RAY; // _getAPY

// spec §2.4 VariableBorrow / Default borrow rate and the Default liquidity rate
function defaultRates(p, D, L, rf) {
  const U = D === 0n ? 0n : rayDiv(D, L + D);
  let vr = p.base;
  if (U > p.uopt) vr += p.slope1 + rayMul(p.slope2, rayDiv(U - p.uopt, RAY - p.uopt));
  else vr += rayDiv(rayMul(p.slope1, U), p.uopt);
  let lr = 0n;
  if (D !== 0n) {
    const ob = rayDiv(rayMul(wadToRay(D), vr), wadToRay(D));
    lr = percentMul(rayMul(ob, U), 10000n - rf);
  }
  return { U, vr, lr };
}

function bitmap(c) {
  let b = 0n;
  b |= BigInt(c.ltv) | (BigInt(c.lt) << 16n) | (BigInt(c.lb) << 32n) | (BigInt(c.dec) << 48n);
  b |= (c.active ? 1n : 0n) << 56n | (c.frozen ? 1n : 0n) << 57n | (c.borrowing ? 1n : 0n) << 58n;
  b |= (c.paused ? 1n : 0n) << 60n | (c.isoBorrow ? 1n : 0n) << 61n | (c.flash ? 1n : 0n) << 63n;
  b |= BigInt(c.rf) << 64n | BigInt(c.borrowCap) << 80n | BigInt(c.supplyCap) << 116n;
  b |= BigInt(c.fee) << 152n | BigInt(c.emode) << 168n;
  return b;
}

const T0 = 1750000000n, T1 = T0 + 7200n, AT = T0 + 86400n * 365n;
const USDT = '0xdAC17F958D2ee523a2206206994597C13D831ec7';
const WSTETH = '0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0';
const WBTC = '0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599';
const SUSDS = '0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD';

// USDT: RateTargetKink at SSR 3.75% + 0.5% (spec §4.3 worked example); stored rates = the §4.3
// vector at U = 90%.
const ssrApr = 36813973144203954141840000n, spread = 5000000000000000000000000n;
const usdt = {
  cfg: { ltv: 0, lt: 0, lb: 0, dec: 6, active: true, frozen: false, borrowing: true, paused: false,
    isoBorrow: false, flash: true, rf: 100, borrowCap: 100000000, supplyCap: 120000000, fee: 0, emode: 2 },
  li: 1050000000000000000000000000n, vbi: 1080000000000000000000000000n,
  lr: 35295394804565421922464733n, vr: 39613237715561640765953684n, lu: T0 - 86400n,
  aS: 95238095238095n, dS: 83333333333333n, acc: 1000000n, avail: 10000000000000n,
  irm: { address: '0x4E494988E68e6Fc52309BE4937869e27F0C304AC', kind: 'rate_target_kink',
    uopt: 950000000000000000000000000n, base: 0n, slope1: ssrApr + spread, slope2: 150000000000000000000000000n,
    spread, source: { kind: 'ssr', address: SUSDS, apr: ssrApr.toString(), decimals: 27 } },
  price: 100000000n,
};
// wstETH: Default 0%/2%/200%/70% (spec §4.3), stored rates from the strategy at the stored D, L.
const wst = {
  cfg: { ltv: 8300, lt: 8400, lb: 10700, dec: 18, active: true, frozen: false, borrowing: true, paused: false,
    isoBorrow: false, flash: true, rf: 3000, borrowCap: 3000, supplyCap: 1200000, fee: 1000, emode: 1 },
  li: 1002000000000000000000000000n, vbi: 1010000000000000000000000000n, lu: T0 - 3600n,
  aS: 9980039920159680638722n, dS: 1980198019801980198019n, acc: 123456789n, avail: 8000000000000000000000n,
  irm: { address: '0xDD94eC5C14407e0bd6760c8eBDcD4Ec1327D3656', kind: 'default',
    uopt: 700000000000000000000000000n, base: 0n, slope1: 20000000000000000000000000n,
    slope2: 2000000000000000000000000000n },
  price: 420000000000n,
};
{
  const D = rayMul(wst.dS, wst.vbi);
  const r = defaultRates(wst.irm, D, wst.avail, BigInt(wst.cfg.rf));
  wst.lr = r.lr;
  wst.vr = r.vr;
}
// WBTC: frozen, no borrowing, no debt.
const wbtc = {
  cfg: { ltv: 7700, lt: 7800, lb: 10700, dec: 8, active: true, frozen: true, borrowing: false, paused: false,
    isoBorrow: false, flash: true, rf: 2000, borrowCap: 0, supplyCap: 5000, fee: 1000, emode: 0 },
  li: 1000500000000000000000000000n, vbi: RAY, lr: 0n, vr: 0n, lu: T0 - 100n,
  aS: 300000000000n, dS: 0n, acc: 0n, avail: 300150000000n,
  irm: { address: '0xD2139d6d63Acb1e7Cc91cE32bbD86eFb17eBEe46', kind: 'default',
    uopt: 600000000000000000000000000n, base: 0n, slope1: 20000000000000000000000000n,
    slope2: 3000000000000000000000000000n },
  price: 10000000000000n,
};

function reserveJson(asset, id, r, aToken, dToken) {
  const s = { address: r.irm.address, kind: r.irm.kind, optimal_usage_ratio: r.irm.uopt.toString(),
    base_variable_borrow_rate: r.irm.base.toString(), variable_rate_slope1: r.irm.slope1.toString(),
    variable_rate_slope2: r.irm.slope2.toString() };
  if (r.irm.source) { s.spread = r.irm.spread.toString(); s.rate_source = r.irm.source; }
  return { asset, id, configuration: bitmap(r.cfg).toString(), liquidity_index: r.li.toString(),
    variable_borrow_index: r.vbi.toString(), current_liquidity_rate: r.lr.toString(),
    current_variable_borrow_rate: r.vr.toString(), last_update_timestamp: Number(r.lu), a_token: aToken,
    variable_debt_token: dToken, a_token_scaled_total_supply: r.aS.toString(),
    variable_debt_scaled_total_supply: r.dS.toString(), accrued_to_treasury: r.acc.toString(),
    isolation_mode_total_debt: '0', available_liquidity: r.avail.toString(), interest_rate_strategy: s };
}

const tokens = {
  [USDT]: ['0xe7dF13b8e3d6740fe17CBE928C7334243d86c92f', '0x529b6158d1D2992E3129F7C69E81a7c677dc3B12'],
  [WSTETH]: ['0x12B54025C112Aa61fAce2CDB7118740875A566E9', '0xd5c3E3B566a42A6110513Ac7670C1a86D76E13E6'],
  [WBTC]: ['0x4197ba364AE6698015AE5c1468f54087602715b2', '0xf6fEe3A8aC8040C3d6d81d9A4a168516Ec9B51D2'],
};
function snapshot(number, ts, reserves) {
  return { format: 'sparkd.snapshot/1', chain_id: 1,
    block: { number, hash: '0x' + number.toString(16).padStart(64, '0'), timestamp: Number(ts) },
    assets: [{ address: USDT, symbol: 'USDT', decimals: 6, name: 'Tether USD' },
      { address: WSTETH, symbol: 'wstETH', decimals: 18, name: 'Wrapped liquid staked Ether 2.0' },
      { address: WBTC, symbol: 'WBTC', decimals: 8, name: 'Wrapped BTC' },
      { address: SUSDS, symbol: 'sUSDS', decimals: 18 }],
    reserves,
    emode_categories: [
      { id: 1, ltv: 9200, liquidation_threshold: 9300, liquidation_bonus: 10100,
        price_source: '0x0000000000000000000000000000000000000000', label: 'ETH' },
      { id: 2, ltv: 9100, liquidation_threshold: 9200, liquidation_bonus: 10100,
        price_source: '0x0000000000000000000000000000000000000000', label: 'USD' }],
    prices: [
      { asset: USDT, price: usdt.price.toString(), source: '0x3E7d1eAB13ad0104d2750B8863b489D65364e32D', updated_at: Number(ts) - 60 },
      { asset: WSTETH, price: wst.price.toString(), source: '0xf77e132799DBB0d83A4fB7df10DA04849340311A', updated_at: Number(ts) - 60 },
      { asset: WBTC, price: wbtc.price.toString(), source: '0x4a3411ac2948B33c69666B35cc6d055B27Ea84f1', updated_at: Number(ts) - 60 }],
  };
}
const res1 = [reserveJson(USDT, 0, usdt, ...tokens[USDT]), reserveJson(WSTETH, 1, wst, ...tokens[WSTETH]),
  reserveJson(WBTC, 2, wbtc, ...tokens[WBTC])];
writeFileSync('tests/fixtures/markets_block1.json', JSON.stringify(snapshot(22000000, T0, res1)) + '\n');

// Block 2 (T1 = T0 + 2 h): USDT after an action at T1 (indexes updated to T1, U = 97%: the §4.3
// vector's rates); the other reserves unchanged.
const usdt2 = { ...usdt, li: income(usdt.lr, usdt.li, usdt.lu, T1), vbi: debtIndex(usdt.vr, usdt.vbi, usdt.lu, T1),
  lu: T1, lr: 97771958410379057162408952n, vr: 101813973144203954141840000n, avail: 3000000000000n,
  dS: 89000000000000n };
writeFileSync('tests/fixtures/markets_block2.json',
  JSON.stringify({ ...snapshot(22000600, T1, [reserveJson(USDT, 0, usdt2, ...tokens[USDT]), res1[1], res1[2]]), prices: undefined }) + '\n');

// ---- expected values ----
const out = [];
const put = (k, v) => out.push(`${k}=${v}`);
function expect(name, r, t) {
  const li = income(r.lr, r.li, r.lu, t), vbi = debtIndex(r.vr, r.vbi, r.lu, t);
  const supplied = rayMul(r.aS, li), borrowed = rayMul(r.dS, vbi);
  const U = borrowed === 0n ? 0n : rayDiv(borrowed, r.avail + borrowed);
  // updateState step 3: treasury accrual
  let acc = r.acc;
  const rf = BigInt(r.cfg.rf);
  if (rf !== 0n && t !== r.lu && r.dS !== 0n) {
    const accrued = rayMul(r.dS, vbi) - rayMul(r.dS, r.vbi);
    const mint = percentMul(accrued, rf);
    if (mint !== 0n) acc += rayDiv(mint, li);
  }
  const unit = 10n ** BigInt(r.cfg.dec);
  put(`${name}.liquidity_index_ray`, li);
  put(`${name}.variable_borrow_index_ray`, vbi);
  put(`${name}.total_supplied`, supplied);
  put(`${name}.total_borrowed`, borrowed);
  put(`${name}.utilization_ray`, U);
  put(`${name}.liquidity_rate_ray`, r.lr);
  put(`${name}.variable_borrow_rate_ray`, r.vr);
  put(`${name}.supply_apy_ray`, apy(r.lr));
  put(`${name}.borrow_apy_ray`, apy(r.vr));
  put(`${name}.accrued_to_treasury`, acc);
  if (r.cfg.supplyCap) {
    const cap = BigInt(r.cfg.supplyCap) * unit, used = rayMul(r.aS + acc, li);
    put(`${name}.supply_cap_headroom`, cap > used ? cap - used : 0n);
  }
  if (r.cfg.borrowCap) {
    const cap = BigInt(r.cfg.borrowCap) * unit;
    put(`${name}.borrow_cap_headroom`, cap > borrowed ? cap - borrowed : 0n);
  }
  return { supplied, borrowed, unit };
}
let supBase = 0n, borBase = 0n;
for (const [name, r] of [['USDT', usdt], ['wstETH', wst], ['WBTC', wbtc]]) {
  const e = expect(name, r, T0);
  supBase += (e.supplied * r.price) / e.unit;
  borBase += (e.borrowed * r.price) / e.unit;
  expect(`${name}@at`, r, AT);
}
put('markets.total_supplied_base', supBase);
put('markets.total_borrowed_base', borBase);
expect('USDT@block2', usdt2, T1);
put('at', AT);
put('T0', T0);
put('T1', T1);
// the wstETH Default curve, 0%..100% (its kink 70% is a whole percent)
for (let k = 0n; k <= 100n; k++) {
  const U = k * 10n ** 25n;
  const r = defaultRates(wst.irm, U, RAY - U, BigInt(wst.cfg.rf));
  put(`wstETH.curve.${k}`, `${r.vr},${r.lr}`);
}
writeFileSync('tests/fixtures/markets_expected.txt', out.join('\n') + '\n');
console.log(out.length, 'expected values written');
