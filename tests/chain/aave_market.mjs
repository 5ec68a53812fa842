#!/usr/bin/env node
// Deploys a FULL Aave v3 (3.0.2 = SparkLend core) market on a local anvil, from the compiled
// contracts in npm @aave/core-v3 1.19.3 — the real Pool, PoolConfigurator, tokens and logic
// libraries, linked here — with SparkLend-like reserve parameters
// (/work/shared/spec/protocol-math.md §4), and writes:
//   - a sparkd.network/1 file (docs/network-file.md) for chain 31337 whose
//     start_block is the PoolAddressesProvider's deployment block;
//   - a JSON of every address (provider, pool, tokens, aggregators, the liquidator; users are
//     added by drive.mjs).
//
// Usage:
//   node tests/chain/aave_market.mjs --rpc URL --network OUT.json --addresses OUT.json
//   node tests/chain/aave_market.mjs --anvil --network N.json --addresses A.json
//       starts anvil itself (pruned history, free 127.0.0.1 port), deploys, prints
//       `RPC_URL=http://127.0.0.1:PORT` and `ANVIL_PID=…` and keeps anvil running until stdin
//       closes or --lifetime SECONDS (default 600) passes; the caller kills it by that pid.
// anvil should be started by this script or tests/chain/anvil.mjs (anvil.sh) (fixed genesis time and a 12 s
// block step, --auto-impersonate: every script sends from any address without keys).
//
// Market (prices in USD with 8 decimals, AaveOracle base unit 1e8):
//   symbol  dec  LTV/LT/LB (bps)    RF    eMode  caps (supply/borrow, whole tokens)  notes
//   WETH    18   8500/8600/10500   500   1      2,000,000 / 1,000,000               borrowable
//   wstETH  18   8300/8400/10700   3000  1      2,000,000 / 1                       borrow cap 1 (automator)
//   WBTC     8   8100/8200/10800   2000  0      3,000 / 1,000                       cbBTC-like, borrowable
//   weETH   18   7900/8000/10800   1500  0      500,000 / 0                         ISOLATED, ceiling $1,000,000.00, not borrowable
//   DAI     18   7400/7600/10450   1000  0      0 / 0                               borrowable in isolation; drive.mjs later
//                                                                                   sets LTV 0 / LT 1 bp (SparkLend legacy)
//   USDC     6   0/0/0             100   2      2^36-1 / 2^36-1                     non-collateral, borrowable in isolation
//   eMode 1 "ETH" 9200/9300/10100 (WETH, wstETH); eMode 2 "USD" 9100/9200/10100 (USDC).
// Interest-rate strategies are DefaultReserveInterestRateStrategy with the SparkLend Default
// parameters of §4.3 (kinked strategies approximated by their current slope1).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Interface, getAddress, keccak256, toUtf8Bytes, AbiCoder } from 'ethers';
import { args, artifact, iface, link, Rpc, startAnvil, toJSON, ZeroAddress } from './lib.mjs';

const pct = (p) => BigInt(Math.round(p * 1e6)) * 10n ** 19n; // percent (up to 6 decimals) -> RAY fraction
const E = (n, d) => BigInt(n) * 10n ** BigInt(d);

export const DEPLOYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'; // anvil account 0
export const LIQUIDATOR = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'; // anvil account 1
export const TREASURY = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'; // anvil account 2

export const RESERVES = [
  { symbol: 'WETH', decimals: 18, price: 3000, ltv: 8500, lt: 8600, lb: 10500, rf: 500, emode: 1,
    supplyCap: 2_000_000, borrowCap: 1_000_000, borrow: true, irm: [90, 0, 2.7, 75] },
  { symbol: 'wstETH', decimals: 18, price: 3600, ltv: 8300, lt: 8400, lb: 10700, rf: 3000, emode: 1,
    supplyCap: 2_000_000, borrowCap: 1, borrow: true, irm: [70, 0, 2, 200] },
  { symbol: 'WBTC', decimals: 8, price: 95000, ltv: 8100, lt: 8200, lb: 10800, rf: 2000, emode: 0,
    supplyCap: 3_000, borrowCap: 1_000, borrow: true, irm: [80, 0, 1, 300] },
  { symbol: 'weETH', decimals: 18, price: 3150, ltv: 7900, lt: 8000, lb: 10800, rf: 1500, emode: 0,
    supplyCap: 500_000, borrowCap: 0, borrow: false, irm: [45, 5, 15, 300], debtCeiling: 1_000_000_00 },
  { symbol: 'DAI', decimals: 18, price: 1, ltv: 7400, lt: 7600, lb: 10450, rf: 1000, emode: 0,
    supplyCap: 0, borrowCap: 0, borrow: true, isolationBorrowable: true, irm: [80, 0, 5.89, 15] },
  { symbol: 'USDC', decimals: 6, price: 1, ltv: 0, lt: 0, lb: 0, rf: 100, emode: 2,
    supplyCap: 2 ** 36 - 1, borrowCap: 2 ** 36 - 1, borrow: true, isolationBorrowable: true, irm: [95, 0, 5.89, 15] },
];
export const EMODES = [
  { id: 1, ltv: 9200, lt: 9300, lb: 10100, label: 'ETH' },
  { id: 2, ltv: 9100, lt: 9200, lb: 10100, label: 'USD' },
];

// A Chainlink-style feed whose answer anyone can set (test only): latestAnswer lives in storage
// slot 0 so eth_call state overrides can move a price without a transaction.
const FEED_SRC = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;
contract SettableAggregator {
  int256 public latestAnswer;
  uint256 public latestTimestamp;
  uint256 public latestRound;
  event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
  constructor(int256 a) { _set(a); }
  function setAnswer(int256 a) external { _set(a); }
  function _set(int256 a) internal {
    latestAnswer = a; latestTimestamp = block.timestamp; latestRound += 1;
    emit AnswerUpdated(a, latestRound, block.timestamp);
  }
  function decimals() external pure returns (uint8) { return 8; }
  function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
    return (uint80(latestRound), latestAnswer, latestTimestamp, latestTimestamp, uint80(latestRound));
  }
}`;
// solc-js takes seconds to load on a busy machine: the output is cached in the OS temp folder,
// keyed by the source's hash (a changed source recompiles).
export async function compileFeed() {
  const key = keccak256(toUtf8Bytes(FEED_SRC + solcVersionTag)).slice(2, 18);
  const cacheFile = path.join(os.tmpdir(), `sparkd-feed-${key}.json`);
  if (existsSync(cacheFile)) {
    try {
      const c = JSON.parse(readFileSync(cacheFile, 'utf8'));
      return { abi: c.abi, iface: new Interface(c.abi), bytecode: c.bytecode };
    } catch {
      /* a partial file from a concurrent writer: compile */
    }
  }
  const solc = (await import('solc')).default;
  const input = { language: 'Solidity', sources: { 'Feed.sol': { content: FEED_SRC } },
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errs = (out.errors || []).filter((e) => e.severity === 'error');
  if (errs.length) throw new Error(errs.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts['Feed.sol'].SettableAggregator;
  const res = { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
  const tmp = `${cacheFile}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(res));
  renameSync(tmp, cacheFile);
  return { ...res, iface: new Interface(c.abi) };
}
const solcVersionTag = 'solc 0.8.26 optimizer 200 paris';
export const FEED_ABI = [
  'function latestAnswer() view returns (int256)',
  'function setAnswer(int256)',
];

export async function deployMarket(rpc, log = () => {}) {
  const from = DEPLOYER;
  const tx = (to, name, fn, a, gas) => rpc.send(from, to, iface(name).encodeFunctionData(fn, a), gas ? { gas } : {});
  const dep = async (name, a = [], libs) => {
    const art = artifact(name);
    const code = libs ? link(art.bytecode, art.links, libs) : art.bytecode;
    return rpc.deploy(from, code, art.iface, a);
  };

  const providerD = await dep('PoolAddressesProvider', ['SparkLend-anvil', from]);
  const provider = providerD.address;
  log(`PoolAddressesProvider ${provider} block ${providerD.block}`);
  await tx(provider, 'PoolAddressesProvider', 'setACLAdmin', [from]);
  const acl = (await dep('ACLManager', [provider])).address;
  await tx(provider, 'PoolAddressesProvider', 'setACLManager', [acl]);
  await tx(acl, 'ACLManager', 'addPoolAdmin', [from]);
  await tx(acl, 'ACLManager', 'addEmergencyAdmin', [from]);
  await tx(acl, 'ACLManager', 'addRiskAdmin', [from]);

  // Logic libraries (FlashLoanLogic links BorrowLogic), then the Pool and Configurator
  // implementations linked against them; the provider creates the proxies.
  const libs = {};
  for (const n of ['SupplyLogic', 'BorrowLogic', 'LiquidationLogic', 'EModeLogic', 'BridgeLogic', 'PoolLogic', 'ConfiguratorLogic'])
    libs[n] = (await dep(n)).address;
  libs.FlashLoanLogic = (await dep('FlashLoanLogic', [], libs)).address;
  const poolImpl = (await dep('Pool', [provider], libs)).address;
  await tx(poolImpl, 'Pool', 'initialize', [provider]);
  await tx(provider, 'PoolAddressesProvider', 'setPoolImpl', [poolImpl]);
  const pool = getAddress((await rpc.view(provider, iface('PoolAddressesProvider'), 'getPool'))[0]);
  const confImpl = (await dep('PoolConfigurator', [], libs)).address;
  await tx(confImpl, 'PoolConfigurator', 'initialize', [provider]);
  await tx(provider, 'PoolAddressesProvider', 'setPoolConfiguratorImpl', [confImpl]);
  const configurator = getAddress((await rpc.view(provider, iface('PoolAddressesProvider'), 'getPoolConfigurator'))[0]);
  const dataProvider = (await dep('AaveProtocolDataProvider', [provider])).address;
  await tx(provider, 'PoolAddressesProvider', 'setPoolDataProvider', [dataProvider]);
  log(`Pool ${pool} PoolConfigurator ${configurator}`);

  // Underlying tokens and their price feeds, then the oracle.
  const feed = await compileFeed();
  const reserves = [];
  for (const r of RESERVES) {
    const asset = (await dep('MintableERC20', [r.symbol, r.symbol, r.decimals])).address;
    const aggregator = (await rpc.deploy(from, feed.bytecode, feed.iface, [E(r.price, 8)])).address;
    reserves.push({ ...r, asset, aggregator });
  }
  const oracle = (await dep('AaveOracle', [provider, reserves.map((r) => r.asset), reserves.map((r) => r.aggregator),
    ZeroAddress, ZeroAddress, E(1, 8)])).address;
  await tx(provider, 'PoolAddressesProvider', 'setPriceOracle', [oracle]);

  // Token implementations (initialised with dummies so nobody else can) and the strategies.
  const aTokenImpl = (await dep('AToken', [pool])).address;
  const vImpl = (await dep('VariableDebtToken', [pool])).address;
  const sImpl = (await dep('StableDebtToken', [pool])).address;
  for (const r of reserves) {
    const [uopt, base, s1, s2] = r.irm;
    r.strategy = (await dep('DefaultReserveInterestRateStrategy', [provider, pct(uopt), pct(base), pct(s1), pct(s2),
      0n, 0n, 0n, 0n, 0n])).address;
  }
  const C = 'PoolConfigurator';
  // One reserve per call: each creates three token proxies.
  for (const r of reserves) await tx(configurator, C, 'initReserves', [[r].map((r) => ({
    aTokenImpl, stableDebtTokenImpl: sImpl, variableDebtTokenImpl: vImpl, underlyingAssetDecimals: r.decimals,
    interestRateStrategyAddress: r.strategy, underlyingAsset: r.asset, treasury: TREASURY,
    incentivesController: ZeroAddress, aTokenName: `Spark ${r.symbol}`, aTokenSymbol: `sp${r.symbol}`,
    variableDebtTokenName: `Spark Variable Debt ${r.symbol}`, variableDebtTokenSymbol: `variableDebt${r.symbol}`,
    stableDebtTokenName: `Spark Stable Debt ${r.symbol}`, stableDebtTokenSymbol: `stableDebt${r.symbol}`, params: '0x10',
  }))], 20_000_000);
  for (const e of EMODES) await tx(configurator, C, 'setEModeCategory', [e.id, e.ltv, e.lt, e.lb, ZeroAddress, e.label]);
  for (const r of reserves) {
    const d = await rpc.view(pool, iface('Pool'), 'getReserveData', [r.asset]);
    r.aToken = getAddress(d[0].aTokenAddress);
    r.variableDebtToken = getAddress(d[0].variableDebtTokenAddress);
    r.stableDebtToken = getAddress(d[0].stableDebtTokenAddress);
    if (r.lt) await tx(configurator, C, 'configureReserveAsCollateral', [r.asset, r.ltv, r.lt, r.lb]);
    if (r.borrow) await tx(configurator, C, 'setReserveBorrowing', [r.asset, true]);
    await tx(configurator, C, 'setReserveFactor', [r.asset, r.rf]);
    if (r.supplyCap) await tx(configurator, C, 'setSupplyCap', [r.asset, r.supplyCap]);
    if (r.borrowCap) await tx(configurator, C, 'setBorrowCap', [r.asset, r.borrowCap]);
    if (r.debtCeiling) await tx(configurator, C, 'setDebtCeiling', [r.asset, r.debtCeiling]);
    if (r.isolationBorrowable) await tx(configurator, C, 'setBorrowableInIsolation', [r.asset, true]);
    if (r.emode) await tx(configurator, C, 'setAssetEModeCategory', [r.asset, r.emode]);
    await tx(configurator, C, 'setReserveFlashLoaning', [r.asset, true]);
  }
  const chainId = parseInt(await rpc.call('eth_chainId'), 16);
  const head = await rpc.blockNumber();
  log(`market ready at block ${head}`);
  return {
    chain_id: chainId, start_block: providerD.block, deployed_block: head,
    deployer: from, liquidator: LIQUIDATOR, treasury: TREASURY,
    pool_addresses_provider: provider, acl_manager: acl, pool, pool_configurator: configurator,
    pool_impl: poolImpl, pool_configurator_impl: confImpl, data_provider: dataProvider, oracle,
    atoken_impl: aTokenImpl, variable_debt_impl: vImpl, stable_debt_impl: sImpl, libraries: libs,
    emodes: EMODES,
    reserves: reserves.map((r) => ({ symbol: r.symbol, decimals: r.decimals, asset: r.asset, aggregator: r.aggregator,
      atoken: r.aToken, variable_debt_token: r.variableDebtToken, stable_debt_token: r.stableDebtToken,
      strategy: r.strategy, price: String(E(r.price, 8)) })),
    users: [],
  };
}

export function networkFile(m, name = 'anvil') {
  return {
    format: 'sparkd.network/1',
    name,
    chain_id: m.chain_id,
    start_block: m.start_block,
    sparklend: { pool_addresses_provider: m.pool_addresses_provider },
  };
}

async function main() {
  const a = args();
  let node = null;
  let url = a.rpc;
  if (a.anvil) {
    node = await startAnvil({});
    url = node.url;
  }
  if (!url) throw new Error('need --rpc URL or --anvil (see the top of this file)');
  const rpc = new Rpc(url);
  const t0 = Date.now();
  const m = await deployMarket(rpc, a.quiet ? () => {} : (s) => console.error(s));
  m.rpc_url = url;
  if (a.addresses) writeFileSync(a.addresses, toJSON(m) + '\n');
  if (a.network) writeFileSync(a.network, JSON.stringify(networkFile(m), null, 2) + '\n');
  if (!a.quiet) console.error(`deployed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (node) {
    console.log(`RPC_URL=${url}`);
    console.log(`ANVIL_PID=${node.proc.pid}`);
    // Bounded lifetime: anvil goes when stdin closes or the lifetime passes.
    const life = Number(a.lifetime || 600) * 1000;
    const timer = setTimeout(() => node.stop().then(() => process.exit(0)), life);
    process.stdin.on('end', () => { clearTimeout(timer); node.stop().then(() => process.exit(0)); });
    process.stdin.resume();
    for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => node.stop().then(() => process.exit(0)));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e.stack || String(e));
    process.exit(1);
  });
}
