#!/usr/bin/env node
// Checks a truth dump (truth.mjs) and a drive summary (drive.mjs) for the fixture's own sanity,
// independently of sparkd:
//   - every account's health factor is > 0 (or 0 with no collateral left: bad debt after a
//     liquidation), and is 2^256-1 exactly when it has no debt;
//   - every aToken balanceOf = rayMul(scaledBalanceOf, getReserveNormalizedIncome) and every
//     variable-debt balanceOf = rayMul(scaledBalanceOf, getReserveNormalizedVariableDebt)
//     (WadRayMath half-up, recomputed here with BigInt);
//   - token totals likewise, each user's configuration bits agree with its balances (borrowing
//     bit ⇔ debt; collateral bit ⇒ supply);
//   - the run was a real one: all users active, liquidations happened, time moved, few reverts.
//   node tests/chain/sanity.mjs --truth T.json [--drive S.json] [--min-liquidations 1]
import { readFileSync } from 'node:fs';
import { args, rayMul, MAX_UINT } from './lib.mjs';

const a = args();
const t = JSON.parse(readFileSync(a.truth, 'utf8'));
const errs = [];
const R = Object.entries(t.reserves);
let positions = 0, debtors = 0, badDebt = 0;
for (const [asset, r] of R) {
  const ni = BigInt(r.normalized_income), nd = BigInt(r.normalized_variable_debt);
  if (rayMul(BigInt(r.atoken_scaled_total_supply), ni) !== BigInt(r.atoken_total_supply)) errs.push(`${r.symbol}: aToken totalSupply != rayMul(scaledTotalSupply, income)`);
  if (rayMul(BigInt(r.variable_debt_scaled_total_supply), nd) !== BigInt(r.variable_debt_total_supply)) errs.push(`${r.symbol}: debt totalSupply != rayMul(scaledTotalSupply, debt index)`);
  if (ni < BigInt(r.data.liquidity_index)) errs.push(`${r.symbol}: normalized income below the stored index`);
  for (const [u, x] of Object.entries(t.users)) {
    const b = x.balances[asset];
    if (rayMul(BigInt(b.a_scaled), ni) !== BigInt(b.a_balance)) errs.push(`${u} ${r.symbol}: aToken balanceOf ${b.a_balance} != rayMul(${b.a_scaled}, ${ni})`);
    if (rayMul(BigInt(b.v_scaled), nd) !== BigInt(b.v_balance)) errs.push(`${u} ${r.symbol}: debt balanceOf ${b.v_balance} != rayMul(${b.v_scaled}, ${nd})`);
    const cfg = BigInt(x.configuration);
    const borrowing = ((cfg >> BigInt(2 * r.reserve_id)) & 1n) === 1n;
    const coll = ((cfg >> BigInt(2 * r.reserve_id + 1)) & 1n) === 1n;
    if (borrowing !== (BigInt(b.v_scaled) > 0n)) errs.push(`${u} ${r.symbol}: borrowing bit ${borrowing} but scaled debt ${b.v_scaled}`);
    if (coll && BigInt(b.a_scaled) === 0n) errs.push(`${u} ${r.symbol}: collateral bit without a supply`);
    if (BigInt(b.a_scaled) > 0n || BigInt(b.v_scaled) > 0n) positions++;
  }
}
for (const [u, x] of Object.entries(t.users)) {
  const hf = BigInt(x.account.health_factor), debt = BigInt(x.account.total_debt_base);
  // HF 0 is real: a liquidation that seized all collateral leaves bad debt (3.0.2 has no
  // deficit handling), and getUserAccountData then answers collateral 0, HF 0.
  if (hf === 0n && BigInt(x.account.total_collateral_base) !== 0n) errs.push(`${u}: health factor 0 with collateral`);
  if (hf === 0n) badDebt++;
  if ((debt === 0n) !== (hf === MAX_UINT)) errs.push(`${u}: debt ${debt} with health factor ${hf}`);
  if (debt > 0n) debtors++;
}
if (a.drive) {
  const d = JSON.parse(readFileSync(a.drive, 'utf8'));
  const minLiq = Number(a['min-liquidations'] ?? 1);
  if (d.liquidations < minLiq) errs.push(`drive: ${d.liquidations} liquidations (< ${minLiq})`);
  if (d.time_jumps < 1) errs.push('drive: no time jump');
  if (d.reverted > d.txs * 0.3) errs.push(`drive: ${d.reverted} of ${d.txs} transactions reverted`);
  if ((d.by_action.supply || 0) < d.users) errs.push('drive: not every user supplied');
}
if (debtors === 0) errs.push('no account has debt');
for (const e of errs.slice(0, 100)) console.error(e);
console.log(`sanity: block ${t.block.number}, ${Object.keys(t.users).length} accounts, ${positions} positions, ${debtors} with debt (${badDebt} bad debt), ${errs.length} problems`);
process.exit(errs.length ? 1 : 0);
