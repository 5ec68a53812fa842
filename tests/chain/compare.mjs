#!/usr/bin/env node
// The chain differential: what sparkd serves against what the contracts answer, at the block
// sparkd says it serves (as_of.block_number). Exit 0 only with zero differences.
//
// Usage:
//   node tests/chain/compare.mjs --rpc URL --addresses A.json --sparkd http://127.0.0.1:PORT
//        [--chain 31337] [--truth-out T.json] [--expect-block N] [--known-empty-emode]
// --known-empty-emode: an account with no positions whose eMode sparkd serves as 0 while the chain
// has another is listed as a KNOWN DIVERGENCE instead of a difference (sparkd's import removes
// accounts without positions, and their eMode with them).
// For every account in A.json (users, liquidator, treasury), GET /v1/accounts/{chain}/{address}:
//   totals = getUserAccountData (collateral, debt, available borrows, liquidation threshold,
//   LTV, health factor; null served = no debt = 2^256-1 on chain), emode = getUserEMode, and per
//   reserve: scaled_supplied / supplied = aToken scaledBalanceOf / balanceOf, scaled_borrowed /
//   borrowed = variable-debt token scaledBalanceOf / balanceOf, collateral = the user
//   configuration bit, price = AaveOracle; a reserve the account does not list must be all zero.
// For every reserve, GET /v1/markets/{chain}/reserves/{asset}: the indexes (served accrued to the
//   block's timestamp: getReserveNormalizedIncome / VariableDebt; also with ?at=<block time>),
//   getReserveData's rates and last update, accrued to treasury (served accrued to the block
//   time: recomputed here from the stored values the way the Pool's next update would), the
//   configuration (LTV, LT, LB, RF, eMode, caps in base units or null for none, debt ceiling,
//   flags), price, token totals and available liquidity.
// Every difference is printed as `<where> <field>: sparkd <x> chain <y>`.
import { readFileSync, writeFileSync } from 'node:fs';
import { args, Rpc, toJSON, MAX_UINT, rayMul, rayDiv } from './lib.mjs';
import { truth } from './truth.mjs';

const a = args();
if (!a.rpc || !a.addresses || !a.sparkd) {
  console.error('need --rpc URL --addresses A.json --sparkd URL (see the top of this file)');
  process.exit(2);
}
const chain = a.chain || '31337';
const m = JSON.parse(readFileSync(a.addresses, 'utf8'));
const diffs = [];
const known = [];
let checked = 0;
const eq = (where, field, served, want) => {
  checked++;
  const s = served === null || served === undefined ? String(served) : String(served);
  const w = String(want);
  if (s !== w) diffs.push(`${where} ${field}: sparkd ${s} chain ${w}`);
};

async function get(path) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(a.sparkd + path);
    if (r.status === 503 && attempt < 50) {
      await new Promise((res) => setTimeout(res, 200)); // state cache still building
      continue;
    }
    const body = await r.text();
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${body.slice(0, 300)}`);
    return JSON.parse(body);
  }
}

// accruedToTreasury as the Pool's next updateState would leave it at `ts` (ReserveLogic
// _updateIndexes + _accrueToTreasury, 3.0.2, no stable debt here), recomputed from the chain's
// stored values: RF% of the variable interest accrued since the last update, scaled by the new
// liquidity index.
function treasuryAt(r, ts) {
  const d = r.data;
  if (BigInt(ts) === BigInt(d.last_update_timestamp)) return BigInt(d.accrued_to_treasury);
  const scaledDebt = BigInt(r.variable_debt_scaled_total_supply);
  const li = BigInt(d.current_liquidity_rate) === 0n ? BigInt(d.liquidity_index) : BigInt(r.normalized_income);
  const vbi = scaledDebt === 0n ? BigInt(d.variable_borrow_index) : BigInt(r.normalized_variable_debt);
  const accrued = rayMul(scaledDebt, vbi) - rayMul(scaledDebt, BigInt(d.variable_borrow_index));
  const mint = (accrued * BigInt(r.config.reserve_factor) + 5000n) / 10000n; // percentMul
  return BigInt(d.accrued_to_treasury) + (mint === 0n ? 0n : rayDiv(mint, li));
}

const who = [...new Set([...(m.users || []), m.liquidator, m.treasury])];
// The block sparkd serves: every answer must name the same one.
// With --expect-block, wait (bounded) for the served state to reach it: a new import reaches
// `sparkd serve` through NOTIFY and a cache rebuild.
let first = await get(`/v1/accounts/${chain}/${who[0]}`);
for (let i = 0; a['expect-block'] !== undefined && first.as_of.block_number !== Number(a['expect-block']) && i < 150; i++) {
  await new Promise((res) => setTimeout(res, 200));
  first = await get(`/v1/accounts/${chain}/${who[0]}`);
}
const block = first.as_of.block_number;
if (a['expect-block'] !== undefined && Number(a['expect-block']) !== block) {
  diffs.push(`as_of.block_number: sparkd ${block}, expected ${a['expect-block']} (not caught up)`);
}
const t = await truth(new Rpc(a.rpc), m, { block, users: who });
if (a['truth-out']) writeFileSync(a['truth-out'], toJSON(t) + '\n');

const byAsset = Object.fromEntries(Object.entries(t.reserves).map(([k, v]) => [k.toLowerCase(), v]));
for (const u of who) {
  const s = await get(`/v1/accounts/${chain}/${u}`);
  const c = t.users[u];
  const w = `account ${u}`;
  eq(w, 'as_of.block_number', s.as_of.block_number, block);
  eq(w, 'total_collateral_base', s.total_collateral_base, c.account.total_collateral_base);
  eq(w, 'total_debt_base', s.total_debt_base, c.account.total_debt_base);
  eq(w, 'available_borrows_base', s.available_borrows_base, c.account.available_borrows_base);
  eq(w, 'current_liquidation_threshold_bps', s.current_liquidation_threshold_bps, c.account.current_liquidation_threshold);
  eq(w, 'current_ltv_bps', s.current_ltv_bps, c.account.ltv);
  eq(w, 'health_factor_wad', s.health_factor_wad ?? MAX_UINT, c.account.health_factor);
  const empty = Object.values(c.balances).every((b) => b.a_scaled === 0n && b.v_scaled === 0n);
  if (a['known-empty-emode'] && empty && Number(s.emode_category) === 0 && Number(c.emode) !== 0) {
    // Known divergence (reported, not fixed here): sparkd's import drops an account without
    // positions (db/snapshot_apply.c), so an eMode chosen with nothing supplied is served as 0.
    known.push(`${w} emode_category: sparkd 0 chain ${c.emode} (no positions)`);
  } else {
    eq(w, 'emode_category', s.emode_category, c.emode);
  }
  const listed = new Set();
  for (const p of s.positions || []) {
    const asset = p.asset.toLowerCase();
    listed.add(asset);
    const r = byAsset[asset];
    if (!r) {
      diffs.push(`${w} position ${p.asset}: not a reserve of the market`);
      continue;
    }
    const b = Object.entries(c.balances).find(([k]) => k.toLowerCase() === asset)[1];
    const pw = `${w} ${r.symbol}`;
    eq(pw, 'scaled_supplied', p.scaled_supplied, b.a_scaled);
    eq(pw, 'supplied', p.supplied, b.a_balance);
    eq(pw, 'scaled_borrowed', p.scaled_borrowed, b.v_scaled);
    eq(pw, 'borrowed', p.borrowed, b.v_balance);
    eq(pw, 'collateral', p.collateral, ((BigInt(c.configuration) >> BigInt(2 * r.reserve_id + 1)) & 1n) === 1n);
    eq(pw, 'price', p.price, r.price);
  }
  for (const [asset, b] of Object.entries(c.balances)) {
    if (listed.has(asset.toLowerCase())) continue;
    const r = byAsset[asset.toLowerCase()];
    for (const k of ['a_scaled', 'v_scaled']) eq(`${w} ${r.symbol} (not listed)`, k, '0', b[k]);
    const bit = ((BigInt(c.configuration) >> BigInt(2 * r.reserve_id)) & 3n) !== 0n;
    eq(`${w} ${r.symbol} (not listed)`, 'configuration bits', false, bit);
  }
}

for (const [asset, r] of Object.entries(t.reserves)) {
  const s = (await get(`/v1/markets/${chain}/reserves/${asset}`)).data;
  const w = `reserve ${r.symbol}`;
  const d = r.data, cf = r.config, unit = 10n ** BigInt(r.decimals);
  eq(w, 'reserve_id', s.reserve_id, r.reserve_id);
  eq(w, 'decimals', s.decimals, r.decimals);
  eq(w, 'a_token', String(s.a_token).toLowerCase(), d.a_token.toLowerCase());
  eq(w, 'variable_debt_token', String(s.variable_debt_token).toLowerCase(), d.variable_debt_token.toLowerCase());
  // sparkd serves the indexes accrued to the served block's timestamp: the Pool's own
  // getReserveNormalizedIncome / getReserveNormalizedVariableDebt at that block (equal to the
  // stored getReserveData indexes only when the reserve was updated in that very block).
  eq(w, 'liquidity_index_ray (normalized income)', s.liquidity_index_ray, r.normalized_income);
  eq(w, 'variable_borrow_index_ray (normalized debt)', s.variable_borrow_index_ray, r.normalized_variable_debt);
  eq(w, 'liquidity_rate_ray', s.liquidity_rate_ray, d.current_liquidity_rate);
  eq(w, 'variable_borrow_rate_ray', s.variable_borrow_rate_ray, d.current_variable_borrow_rate);
  eq(w, 'last_update_timestamp', s.last_update_timestamp, d.last_update_timestamp);
  eq(w, 'accrued_to_treasury (accrued to the block time)', s.accrued_to_treasury, treasuryAt(r, t.block.timestamp));
  eq(w, 'ltv_bps', s.ltv_bps, cf.ltv);
  eq(w, 'liquidation_threshold_bps', s.liquidation_threshold_bps, cf.liquidation_threshold);
  eq(w, 'liquidation_bonus_bps', s.liquidation_bonus_bps, cf.liquidation_bonus);
  eq(w, 'liquidation_protocol_fee_bps', s.liquidation_protocol_fee_bps, cf.liquidation_protocol_fee);
  eq(w, 'reserve_factor_bps', s.reserve_factor_bps, cf.reserve_factor);
  eq(w, 'emode_category', s.emode_category, cf.emode_category);
  eq(w, 'debt_ceiling', s.debt_ceiling, cf.debt_ceiling);
  // A cap of 0 on chain means "no cap", served as null.
  eq(w, 'supply_cap', s.supply_cap, String(cf.supply_cap) === '0' ? null : BigInt(cf.supply_cap) * unit);
  eq(w, 'borrow_cap', s.borrow_cap, String(cf.borrow_cap) === '0' ? null : BigInt(cf.borrow_cap) * unit);
  eq(w, 'flags.active', s.flags.active, cf.is_active);
  eq(w, 'flags.frozen', s.flags.frozen, cf.is_frozen);
  eq(w, 'flags.paused', s.flags.paused, cf.paused);
  eq(w, 'flags.borrowing_enabled', s.flags.borrowing_enabled, cf.borrowing_enabled);
  eq(w, 'flags.usage_as_collateral_enabled', s.flags.usage_as_collateral_enabled, cf.usage_as_collateral_enabled);
  eq(w, 'price', s.price, r.price);
  eq(w, 'total_supplied', s.total_supplied, r.atoken_total_supply);
  eq(w, 'total_borrowed', s.total_borrowed, r.variable_debt_total_supply);
  eq(w, 'available_liquidity', s.available_liquidity, r.available_liquidity);
  const p = (await get(`/v1/markets/${chain}/reserves/${asset}?at=${t.block.timestamp}`)).data;
  eq(`${w} at block time`, 'liquidity_index_ray (normalized income)', p.liquidity_index_ray, r.normalized_income);
  eq(`${w} at block time`, 'variable_borrow_index_ray (normalized debt)', p.variable_borrow_index_ray, r.normalized_variable_debt);
}

for (const x of known) console.error(`KNOWN DIVERGENCE (--known-empty-emode): ${x}`);
for (const x of diffs.slice(0, 200)) console.error(x);
if (diffs.length > 200) console.error(`… and ${diffs.length - 200} more`);
console.log(`compare: block ${block}, ${who.length} accounts, ${Object.keys(t.reserves).length} reserves, ${checked} values, ${diffs.length} differences${known.length ? `, ${known.length} known divergences` : ''}`);
process.exit(diffs.length ? 1 : 0);
