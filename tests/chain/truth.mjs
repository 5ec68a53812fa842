#!/usr/bin/env node
// The contracts' own answers at one block — the "truth" the chain tests compare sparkd with.
// Every read is an eth_call pinned to the block by hash (EIP-1898), sent as JSON-RPC batches.
//
// Usage:
//   node tests/chain/truth.mjs --rpc URL --addresses A.json [--block N|latest] [--out T.json]
//        [--users 0xa,0xb]   (default: every user in A.json, plus the liquidator and treasury)
// Output (all integers as decimal strings):
//   { block: {number, hash, timestamp},
//     reserves: { <asset>: { symbol, decimals, reserve_id, data: getReserveData fields
//                 (configuration, liquidity_index, current_liquidity_rate, variable_borrow_index,
//                 current_variable_borrow_rate, current_stable_borrow_rate, last_update_timestamp,
//                 id, a_token, stable_debt_token, variable_debt_token, interest_rate_strategy,
//                 accrued_to_treasury, unbacked, isolation_mode_total_debt),
//                 normalized_income, normalized_variable_debt, price (AaveOracle),
//                 atoken_total_supply, atoken_scaled_total_supply, variable_debt_total_supply,
//                 variable_debt_scaled_total_supply, available_liquidity (underlying held by the aToken),
//                 config: AaveProtocolDataProvider.getReserveConfigurationData + caps + debt ceiling +
//                 paused + siloed + emode category + liquidation protocol fee } },
//     emodes: { <id>: getEModeCategoryData },
//     users: { <address>: { account: {total_collateral_base, total_debt_base,
//              available_borrows_base, current_liquidation_threshold, ltv, health_factor},
//              configuration, emode,
//              balances: { <asset>: { a_balance, a_scaled, v_balance, v_scaled } } } } }
import { readFileSync, writeFileSync } from 'node:fs';
import { Interface, getAddress } from 'ethers';
import { args, iface, Rpc, toJSON } from './lib.mjs';

const POOL = iface('Pool');
const DP = iface('AaveProtocolDataProvider');
const ORACLE = iface('AaveOracle');
const TOK = new Interface([
  'function balanceOf(address) view returns (uint256)',
  'function scaledBalanceOf(address) view returns (uint256)',
  'function totalSupply() view returns (uint256)',
  'function scaledTotalSupply() view returns (uint256)',
]);

export async function truth(rpc, m, { block = 'latest', users } = {}) {
  const tag = block === 'latest' ? 'latest' : '0x' + Number(block).toString(16);
  const b = await rpc.call('eth_getBlockByNumber', [tag, false]);
  if (!b) throw new Error(`no block ${block}`);
  const at = { blockHash: b.hash };
  const who = (users || [...(m.users || []), m.liquidator, m.treasury]).map((u) => getAddress(u));
  const get = async (items) => {
    const res = await rpc.views(items, at);
    for (const r of res) if (r instanceof Error) throw r;
    return res;
  };

  const reserves = {};
  const items = [];
  for (const r of m.reserves) {
    items.push([m.pool, POOL, 'getReserveData', [r.asset]]);
    items.push([m.pool, POOL, 'getReserveNormalizedIncome', [r.asset]]);
    items.push([m.pool, POOL, 'getReserveNormalizedVariableDebt', [r.asset]]);
    items.push([m.oracle, ORACLE, 'getAssetPrice', [r.asset]]);
    items.push([r.atoken, TOK, 'totalSupply', []]);
    items.push([r.atoken, TOK, 'scaledTotalSupply', []]);
    items.push([r.variable_debt_token, TOK, 'totalSupply', []]);
    items.push([r.variable_debt_token, TOK, 'scaledTotalSupply', []]);
    items.push([r.asset, TOK, 'balanceOf', [r.atoken]]);
    items.push([m.data_provider, DP, 'getReserveConfigurationData', [r.asset]]);
    items.push([m.data_provider, DP, 'getReserveCaps', [r.asset]]);
    items.push([m.data_provider, DP, 'getDebtCeiling', [r.asset]]);
    items.push([m.data_provider, DP, 'getPaused', [r.asset]]);
    items.push([m.data_provider, DP, 'getSiloedBorrowing', [r.asset]]);
    items.push([m.data_provider, DP, 'getReserveEModeCategory', [r.asset]]);
    items.push([m.data_provider, DP, 'getLiquidationProtocolFee', [r.asset]]);
  }
  const PER_R = 16;
  const rr = await get(items);
  m.reserves.forEach((r, i) => {
    const o = rr.slice(i * PER_R, (i + 1) * PER_R);
    const d = o[0][0];
    const c = o[9];
    reserves[r.asset] = {
      symbol: r.symbol, decimals: r.decimals, reserve_id: Number(d.id),
      data: {
        configuration: d.configuration.data, liquidity_index: d.liquidityIndex, current_liquidity_rate: d.currentLiquidityRate,
        variable_borrow_index: d.variableBorrowIndex, current_variable_borrow_rate: d.currentVariableBorrowRate,
        current_stable_borrow_rate: d.currentStableBorrowRate, last_update_timestamp: d.lastUpdateTimestamp, id: d.id,
        a_token: d.aTokenAddress, stable_debt_token: d.stableDebtTokenAddress, variable_debt_token: d.variableDebtTokenAddress,
        interest_rate_strategy: d.interestRateStrategyAddress, accrued_to_treasury: d.accruedToTreasury, unbacked: d.unbacked,
        isolation_mode_total_debt: d.isolationModeTotalDebt,
      },
      normalized_income: o[1][0], normalized_variable_debt: o[2][0], price: o[3][0],
      atoken_total_supply: o[4][0], atoken_scaled_total_supply: o[5][0],
      variable_debt_total_supply: o[6][0], variable_debt_scaled_total_supply: o[7][0], available_liquidity: o[8][0],
      config: {
        decimals: c.decimals, ltv: c.ltv, liquidation_threshold: c.liquidationThreshold, liquidation_bonus: c.liquidationBonus,
        reserve_factor: c.reserveFactor, usage_as_collateral_enabled: c.usageAsCollateralEnabled,
        borrowing_enabled: c.borrowingEnabled, stable_borrow_rate_enabled: c.stableBorrowRateEnabled, is_active: c.isActive,
        is_frozen: c.isFrozen, borrow_cap: o[10][0], supply_cap: o[10][1], debt_ceiling: o[11][0], paused: o[12][0],
        siloed_borrowing: o[13][0], emode_category: o[14][0], liquidation_protocol_fee: o[15][0],
      },
    };
  });

  const emodes = {};
  const ids = [...new Set((m.emodes || []).map((e) => e.id))];
  const er = await get(ids.map((id) => [m.pool, POOL, 'getEModeCategoryData', [id]]));
  ids.forEach((id, k) => {
    const e = er[k][0];
    emodes[id] = { ltv: e.ltv, liquidation_threshold: e.liquidationThreshold, liquidation_bonus: e.liquidationBonus,
      price_source: e.priceSource, label: e.label };
  });

  const out = {};
  const uitems = [];
  for (const u of who) {
    uitems.push([m.pool, POOL, 'getUserAccountData', [u]]);
    uitems.push([m.pool, POOL, 'getUserConfiguration', [u]]);
    uitems.push([m.pool, POOL, 'getUserEMode', [u]]);
    for (const r of m.reserves) {
      uitems.push([r.atoken, TOK, 'balanceOf', [u]]);
      uitems.push([r.atoken, TOK, 'scaledBalanceOf', [u]]);
      uitems.push([r.variable_debt_token, TOK, 'balanceOf', [u]]);
      uitems.push([r.variable_debt_token, TOK, 'scaledBalanceOf', [u]]);
    }
  }
  const ur = await get(uitems);
  const PER_U = 3 + 4 * m.reserves.length;
  who.forEach((u, k) => {
    const o = ur.slice(k * PER_U, (k + 1) * PER_U);
    const a = o[0];
    const balances = {};
    m.reserves.forEach((r, i) => {
      balances[r.asset] = { a_balance: o[3 + 4 * i][0], a_scaled: o[4 + 4 * i][0], v_balance: o[5 + 4 * i][0], v_scaled: o[6 + 4 * i][0] };
    });
    out[u] = {
      account: { total_collateral_base: a[0], total_debt_base: a[1], available_borrows_base: a[2],
        current_liquidation_threshold: a[3], ltv: a[4], health_factor: a[5] },
      configuration: o[1][0].data, emode: o[2][0], balances,
    };
  });
  return { block: { number: parseInt(b.number, 16), hash: b.hash, timestamp: parseInt(b.timestamp, 16) },
    chain_id: m.chain_id, reserves, emodes, users: out };
}

async function main() {
  const a = args();
  if (!a.rpc || !a.addresses) throw new Error('need --rpc URL --addresses A.json (see the top of this file)');
  const m = JSON.parse(readFileSync(a.addresses, 'utf8'));
  const t = await truth(new Rpc(a.rpc), m, { block: a.block || 'latest', users: a.users ? a.users.split(',') : undefined });
  const s = toJSON(t) + '\n';
  if (a.out) writeFileSync(a.out, s);
  else process.stdout.write(s);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e.stack || String(e));
    process.exit(1);
  });
}
