#!/usr/bin/env node
// SparkLend's additions to the Aave v3 market of aave_market.mjs, as test doubles exposing the
// real contracts' getters (their interfaces as in sparkdotfi's sparklend-kill-switch and
// sparklend-advanced repositories; the contracts themselves are not in node_modules):
//   - a KillSwitchOracle: triggered(), oracles(), oracleThresholds(address), over price feeds
//     with latestAnswer() (int256), decimals() and, for two of three, description();
//   - rate sources: SSRRateSource (getAPR, decimals 27, susds), PotRateSource (getAPR, pot, no
//     decimals: the first version), CappedFallbackRateSource (source, lowerBound, upperBound,
//     defaultRate, getAPR, decimals) and an oracle-like source with 18 decimals;
//   - rate-target strategies, set on four reserves through the PoolConfigurator:
//     RateTargetBase (RATE_SOURCE, getBaseVariableBorrowRateSpread, and the base rate computed as
//     apr * 10^(27 - decimals) + spread) and RateTargetKink (RATE_SOURCE,
//     getVariableRateSlope1Spread as int256, slope1 = max(apr + spread - base, 0)); every other
//     call (calculateInterestRates, OPTIMAL_USAGE_RATIO, slope2, …) is forwarded to an Aave
//     DefaultReserveInterestRateStrategy built with the same effective parameters, so the Pool
//     keeps working with them.
// Writes the network file of --network-in with the kill switch added, and what the contracts
// answer (read back with eth_call at the head) to --expect.
//   node tests/chain/spark_fixture.mjs --rpc URL --addresses A.json --network-in N.json
//        --network-out S.json --expect E.json
import { readFileSync, writeFileSync } from 'node:fs';
import { Interface, getAddress } from 'ethers';
import { args, Rpc, RAY, artifact } from './lib.mjs';

const SRC = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;
interface ISource { function getAPR() external view returns (uint256); }
contract Feed {
  int256 public latestAnswer; uint8 public decimals; string public description;
  constructor(int256 a, uint8 d, string memory s) { latestAnswer = a; decimals = d; description = s; }
}
contract BareFeed {
  int256 public latestAnswer; uint8 public decimals;
  constructor(int256 a, uint8 d) { latestAnswer = a; decimals = d; }
}
contract KillSwitch {
  bool public triggered; address[] o; mapping(address => uint256) public oracleThresholds;
  function setOracle(address a, uint256 t) external { if (oracleThresholds[a] == 0) o.push(a); oracleThresholds[a] = t; }
  function setTriggered(bool t) external { triggered = t; }
  function oracles() external view returns (address[] memory) { return o; }
}
contract SSRSource {
  uint256 public getAPR; address public susds;
  constructor(uint256 a, address s) { getAPR = a; susds = s; }
  function decimals() external pure returns (uint8) { return 27; }
}
contract PotSource {
  uint256 public getAPR; address public pot;
  constructor(uint256 a, address p) { getAPR = a; pot = p; }
}
contract CappedSource {
  address public source; uint256 public lowerBound; uint256 public upperBound; uint256 public defaultRate;
  constructor(address s, uint256 l, uint256 u, uint256 d) { source = s; lowerBound = l; upperBound = u; defaultRate = d; }
  function getAPR() external view returns (uint256) {
    uint256 r = ISource(source).getAPR();
    return r < lowerBound ? lowerBound : r > upperBound ? upperBound : r;
  }
  function decimals() external pure returns (uint8) { return 27; }
}
contract OracleSource {
  uint256 public getAPR; uint8 public decimals;
  constructor(uint256 a, uint8 d) { getAPR = a; decimals = d; }
}
abstract contract Forward {
  address immutable inner;
  constructor(address i) { inner = i; }
  fallback(bytes calldata data) external returns (bytes memory) {
    (bool ok, bytes memory r) = inner.staticcall(data);
    if (!ok) assembly { revert(add(r, 32), mload(r)) }
    return r;
  }
}
contract TargetBase is Forward {
  address public RATE_SOURCE; uint256 public getBaseVariableBorrowRateSpread; uint8 immutable dec;
  constructor(address i, address s, uint8 d, uint256 spread) Forward(i) { RATE_SOURCE = s; dec = d; getBaseVariableBorrowRateSpread = spread; }
  function getBaseVariableBorrowRate() external view returns (uint256) {
    return ISource(RATE_SOURCE).getAPR() * 10 ** (27 - dec) + getBaseVariableBorrowRateSpread;
  }
}
contract TargetKink is Forward {
  address public RATE_SOURCE; int256 public getVariableRateSlope1Spread; uint8 immutable dec; uint256 immutable base;
  constructor(address i, address s, uint8 d, int256 spread, uint256 b) Forward(i) { RATE_SOURCE = s; dec = d; getVariableRateSlope1Spread = spread; base = b; }
  function getVariableRateSlope1() external view returns (uint256) {
    int256 r = int256(ISource(RATE_SOURCE).getAPR() * 10 ** (27 - dec)) + getVariableRateSlope1Spread - int256(base);
    return r > 0 ? uint256(r) : 0;
  }
}`;

const a = args();
for (const k of ['rpc', 'addresses', 'network-in', 'network-out', 'expect'])
  if (!a[k]) throw new Error(`need --${k} (see the top of this file)`);
const rpc = new Rpc(a.rpc);
const m = JSON.parse(readFileSync(a.addresses, 'utf8'));
const solc = (await import('solc')).default;
const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources: { 'S.sol': { content: SRC } },
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } })));
const errs = (out.errors || []).filter((e) => e.severity === 'error');
if (errs.length) throw new Error(errs.map((e) => e.formattedMessage).join('\n'));
const C = Object.fromEntries(Object.entries(out.contracts['S.sol']).map(([n, c]) => [n, { iface: new Interface(c.abi), bytecode: '0x' + c.evm.bytecode.object }]));
const from = m.deployer;
await rpc.call('evm_setAutomine', [true]);
const deploy = async (n, ctor) => (await rpc.deploy(from, C[n].bytecode, C[n].iface, ctor)).address;
const send = (to, ifc, fn, args_) => rpc.send(from, to, ifc.encodeFunctionData(fn, args_));
const view = async (to, ifc, fn, args_ = []) => (await rpc.view(to, ifc, fn, args_))[0];
const pct = (x) => (RAY * BigInt(Math.round(x * 100))) / 10000n;

// The kill switch and its oracles.
const feeds = [
  await deploy('Feed', [998000000000000000n, 18, 'wstETH/ETH exchange rate']),
  await deploy('Feed', [99970000n, 8, 'cbBTC/BTC']),
  await deploy('BareFeed', [-5n, 8]),
];
const ks = await deploy('KillSwitch', []);
const thresholds = [950000000000000000n, 99000000n, 1n];
for (let i = 0; i < feeds.length; i++) await send(ks, C.KillSwitch.iface, 'setOracle', [feeds[i], thresholds[i]]);
await send(ks, C.KillSwitch.iface, 'setTriggered', [true]);

// Rate sources and strategies on four reserves: [kind, source, decimals, spread, base of the inner strategy].
const ssr = await deploy('SSRSource', [pct(4.5), getAddress('0x' + 'a3'.repeat(20))]);
const pot = await deploy('PotSource', [pct(5.25), getAddress('0x' + '19'.repeat(20))]);
const raw = await deploy('OracleSource', [pct(7.5), 27]); // above the cap below: the capped source answers 6%
const capped = await deploy('CappedSource', [raw, pct(2), pct(6), pct(4)]);
const lst = await deploy('OracleSource', [31000000000000000n, 18]); // 3.1% with 18 decimals
const plan = [
  { kind: 'rate_target_base', src: ssr, dec: 27, spread: pct(0.75) },
  { kind: 'rate_target_kink', src: capped, dec: 27, spread: pct(1), base: 0n },
  { kind: 'rate_target_kink', src: pot, dec: 27, spread: -pct(0.5), base: pct(1) },
  { kind: 'rate_target_base', src: lst, dec: 18, spread: 0n },
];
const Default = artifact('DefaultReserveInterestRateStrategy');
const expect = { reserves: {}, kill_switch: {} };
for (let i = 0; i < plan.length; i++) {
  const p = plan[i];
  const r = m.reserves[i];
  const apr = BigInt(await view(p.src, C.OracleSource.iface, 'getAPR'));
  const aprRay = apr * 10n ** BigInt(27 - p.dec);
  const uopt = pct(80), slope2 = pct(50);
  let base, slope1;
  if (p.kind === 'rate_target_base') {
    base = aprRay + p.spread;
    slope1 = pct(3);
  } else {
    base = p.base;
    const s = aprRay + p.spread - base;
    slope1 = s > 0n ? s : 0n;
  }
  const inner = (await rpc.deploy(from, Default.bytecode, Default.iface, [m.pool_addresses_provider, uopt, base, slope1,
    slope2, 0n, 0n, 0n, 0n, 0n])).address;
  const strategy = p.kind === 'rate_target_base'
    ? await deploy('TargetBase', [inner, p.src, p.dec, p.spread])
    : await deploy('TargetKink', [inner, p.src, p.dec, p.spread, base]);
  await send(m.pool_configurator, artifact('PoolConfigurator').iface, 'setReserveInterestRateStrategyAddress', [r.asset, strategy]);
  expect.reserves[r.asset.toLowerCase()] = { symbol: r.symbol, strategy: strategy.toLowerCase(), kind: p.kind };
}

// What the contracts answer, read back at the head.
const S = new Interface(['function RATE_SOURCE() view returns (address)', 'function getBaseVariableBorrowRateSpread() view returns (uint256)',
  'function getVariableRateSlope1Spread() view returns (int256)', 'function getAPR() view returns (uint256)',
  'function decimals() view returns (uint8)', 'function lowerBound() view returns (uint256)', 'function upperBound() view returns (uint256)',
  'function defaultRate() view returns (uint256)', 'function getBaseVariableBorrowRate() view returns (uint256)',
  'function getVariableRateSlope1() view returns (uint256)', 'function triggered() view returns (bool)',
  'function oracles() view returns (address[])', 'function oracleThresholds(address) view returns (uint256)',
  'function latestAnswer() view returns (int256)', 'function description() view returns (string)']);
const kinds = { [ssr]: 'ssr', [pot]: 'pot', [capped]: 'capped_fallback', [lst]: 'oracle' };
for (const [asset, e] of Object.entries(expect.reserves)) {
  const src = getAddress(await view(e.strategy, S, 'RATE_SOURCE'));
  e.spread = String(e.kind === 'rate_target_base' ? await view(e.strategy, S, 'getBaseVariableBorrowRateSpread')
    : await view(e.strategy, S, 'getVariableRateSlope1Spread'));
  e.rate_source = { kind: kinds[src], address: src.toLowerCase(), apr: String(await view(src, S, 'getAPR')),
    decimals: src === pot ? 27 : Number(await view(src, S, 'decimals')) };
  if (src === capped)
    Object.assign(e.rate_source, { lower_bound: String(await view(src, S, 'lowerBound')),
      upper_bound: String(await view(src, S, 'upperBound')), default_rate: String(await view(src, S, 'defaultRate')) });
  e.base_variable_borrow_rate = String(await view(e.strategy, S, 'getBaseVariableBorrowRate'));
  e.variable_rate_slope1 = String(await view(e.strategy, S, 'getVariableRateSlope1'));
  void asset;
}
expect.kill_switch = { address: ks.toLowerCase(), triggered: await view(ks, S, 'triggered'), oracles: [] };
for (const o of await view(ks, S, 'oracles')) {
  let label;
  try {
    label = await view(o, S, 'description');
  } catch {
    label = o.toLowerCase(); // sparkd labels an oracle without description() by its address
  }
  expect.kill_switch.oracles.push({ address: o.toLowerCase(), label, threshold: String(await view(ks, S, 'oracleThresholds', [o])),
    latest_answer: String(await view(o, S, 'latestAnswer')), decimals: Number(await view(o, S, 'decimals')) });
}
const head = await rpc.call('eth_getBlockByNumber', ['latest', false]);
expect.block = { number: Number(BigInt(head.number)), hash: head.hash };
const net = JSON.parse(readFileSync(a['network-in'], 'utf8'));
net.kill_switch = { address: ks };
writeFileSync(a['network-out'], JSON.stringify(net, null, 2) + '\n');
writeFileSync(a.expect, JSON.stringify(expect, null, 2) + '\n');
console.log(`spark fixture at block ${expect.block.number}`);
