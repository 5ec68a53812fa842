#!/usr/bin/env node
// Vectors for tests/check_node_abi.c from npm ethers 6's Interface (an ABI implementation
// independent of chain/abi.c): calldata of the calls the indexer makes, event topics, and
// return data of the shapes it decodes (static structs, a struct holding a string, address[],
// string), for seeded random arguments. Prints one JSON object.
import { Interface, AbiCoder, getAddress, hexlify, id } from 'ethers';

let s = 0x9e3779b97f4a7c15n;
const rnd = () => { s ^= s << 13n; s &= (1n << 64n) - 1n; s ^= s >> 7n; s ^= s << 17n; s &= (1n << 64n) - 1n; return s; };
const big = (bits) => { let v = 0n; for (let i = 0; i < bits; i += 64) v = (v << 64n) | rnd(); return v & ((1n << BigInt(bits)) - 1n); };
const addr = () => getAddress('0x' + big(160).toString(16).padStart(40, '0'));
const n = Number(process.argv[2] || 200);

const fns = new Interface([
  'function getPool() view returns (address)',
  'function getPriceOracle() view returns (address)',
  'function getReservesList() view returns (address[])',
  'function getReserveData(address asset) view returns (((uint256 data) configuration, uint128 liquidityIndex, uint128 currentLiquidityRate, uint128 variableBorrowIndex, uint128 currentVariableBorrowRate, uint128 currentStableBorrowRate, uint40 lastUpdateTimestamp, uint16 id, address aTokenAddress, address stableDebtTokenAddress, address variableDebtTokenAddress, address interestRateStrategyAddress, uint128 accruedToTreasury, uint128 unbacked, uint128 isolationModeTotalDebt))',
  'function getUserConfiguration(address user) view returns ((uint256 data))',
  'function getUserEMode(address user) view returns (uint256)',
  'function getEModeCategoryData(uint8 id) view returns ((uint16 ltv, uint16 liquidationThreshold, uint16 liquidationBonus, address priceSource, string label))',
  'function scaledBalanceOf(address user) view returns (uint256)',
  'function balanceOf(address user) view returns (uint256)',
  'function getAssetPrice(address asset) view returns (uint256)',
  'function symbol() view returns (string)',
]);
const out = { calls: [], topics: [], reserve_data: [], emode: [], lists: [], strings: [] };
for (const sig of ['Supply(address,address,address,uint256,uint16)', 'Transfer(address,address,uint256)',
  'BalanceTransfer(address,address,uint256,uint256)', 'UserEModeSet(address,uint8)',
  'LiquidationCall(address,address,address,uint256,uint256,address,bool)'])
  out.topics.push({ sig, topic: id(sig) });
for (let i = 0; i < n; i++) {
  const a = addr();
  for (const f of ['getReserveData', 'getUserConfiguration', 'getUserEMode', 'scaledBalanceOf', 'balanceOf', 'getAssetPrice'])
    out.calls.push({ sig: fns.getFunction(f).format('sighash'), kind: 'address', arg: a, data: fns.encodeFunctionData(f, [a]) });
  const e = Number(rnd() % 256n);
  out.calls.push({ sig: 'getEModeCategoryData(uint8)', kind: 'uint', arg: String(e), data: fns.encodeFunctionData('getEModeCategoryData', [e]) });
  const rd = [[big(256)], big(128), big(128), big(128), big(128), big(128), big(40), big(16), addr(), addr(), addr(), addr(), big(128), big(128), big(128)];
  out.reserve_data.push({ values: rd.map((v, k) => String(k === 0 ? v[0] : v)), data: fns.encodeFunctionResult('getReserveData', [rd]) });
  const label = ['', 'ETH', 'Stablecoins — USD', 'x'.repeat(Number(rnd() % 100n))][Number(rnd() % 4n)];
  const em = [big(16), big(16), big(16), addr(), label];
  out.emode.push({ ltv: String(em[0]), lt: String(em[1]), lb: String(em[2]), source: em[3], label, data: fns.encodeFunctionResult('getEModeCategoryData', [em]) });
  const list = Array.from({ length: Number(rnd() % 40n) }, addr);
  out.lists.push({ list, data: fns.encodeFunctionResult('getReservesList', [list]) });
  const str = hexlify(Uint8Array.from({ length: Number(rnd() % 70n) }, () => 0x20 + Number(rnd() % 95n)));
  const text = Buffer.from(str.slice(2), 'hex').toString();
  out.strings.push({ text, data: fns.encodeFunctionResult('symbol', [text]) });
}
console.log(JSON.stringify(out));
