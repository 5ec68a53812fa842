#!/usr/bin/env node
// The Spark Liquidity Layer's allocations on the market aave_market.mjs deployed: an account
// acting as the ALM proxy supplies USDC and WETH into the real Aave v3 Pool (venues of kind
// `sparklend` and `aave`: their aTokens), deposits USDC into an ERC-4626 vault whose share price
// grows (assets paid into it between blocks: an APR measured from the share price) and DAI into an
// ERC-4626 vault with an sUSDS-style ssr() (an exact APR), while a borrower makes the Pool's
// liquidity rates non-zero. The vaults and a RateLimits are small solc doubles.
//
//   node tests/chain/ll_fixture.mjs deploy --rpc URL --addresses A.json --network-in N.json
//        --network-out LL.json --state S.json [--bad-asset BAD.json] [--bad-atoken BAD2.json]
//       deploys, acts, mines ~150 blocks (12 s each), writes the network file naming the venues
//       (and the same file with the USDC vault's asset set to DAI, or the USDC aToken's to WETH)
//   node tests/chain/ll_fixture.mjs move --rpc URL --state S.json
//       the ALM withdraws from the Pool and deposits more DAI, the USDC vault earns, 30 blocks
//   node tests/chain/ll_fixture.mjs fixed --rpc URL --state S.json --network-in LL.json --network-out F.json
//        --deposit D --paid Y --window W
//       a new vault whose share price the caller knows without this file's formula: the ALM proxy
//       deposits D (the first deposit: D shares, convertToAssets(totalSupply) = D), W - 1 blocks
//       are mined, Y is paid into the vault in the next block (convertToAssets(totalSupply) =
//       D + Y): at that head, W blocks (W * 12 s) back, the price was D; F.json is LL.json with the
//       venue `fixed-usdc` (apr_window_blocks W) appended
//   node tests/chain/ll_fixture.mjs expect --rpc URL --state S.json --network LL.json --expect E.json
//       the contracts' own answers at the head, computed here with BigInt: per venue the amount
//       (aToken.balanceOf, convertToAssets(balanceOf)) and the APR (getReserveData's
//       currentLiquidityRate; (ssr - RAY) * 31536000; the share price over apr_window_blocks:
//       (a1 - a0) * RAY * 31536000 / (a0 * dt), a = convertToAssets(totalSupply at the head)),
//       and per asset the ALM proxy's balance and the sum deployed
import { readFileSync, writeFileSync } from 'node:fs';
import { Interface, getAddress, keccak256, toUtf8Bytes, toBeHex } from 'ethers';
import { args, iface, Rpc, RAY } from './lib.mjs';

const SRC = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;
interface IERC20 {
  function transferFrom(address, address, uint256) external returns (bool);
  function balanceOf(address) external view returns (uint256);
}
contract Vault4626 {
  address public asset; string public symbol; uint8 public constant decimals = 18;
  uint256 public totalSupply; uint256 public ssr;
  mapping(address => uint256) public balanceOf;
  mapping(address => mapping(address => uint256)) public allowance;
  constructor(address a, string memory s, uint256 r) { asset = a; symbol = s; ssr = r; }
  // its shares are a token too, so that another vault can take them as its asset
  function approve(address sp, uint256 v) external returns (bool) { allowance[msg.sender][sp] = v; return true; }
  function transferFrom(address f, address to, uint256 v) external returns (bool) {
    if (allowance[f][msg.sender] != type(uint256).max) allowance[f][msg.sender] -= v;
    balanceOf[f] -= v; balanceOf[to] += v; return true;
  }
  function totalAssets() public view returns (uint256) { return IERC20(asset).balanceOf(address(this)); }
  function convertToAssets(uint256 shares) public view returns (uint256) {
    return totalSupply == 0 ? shares : shares * totalAssets() / totalSupply;
  }
  function convertToShares(uint256 assets) public view returns (uint256) {
    return totalSupply == 0 ? assets : assets * totalSupply / totalAssets();
  }
  function deposit(uint256 assets, address receiver) external returns (uint256 shares) {
    shares = convertToShares(assets);
    IERC20(asset).transferFrom(msg.sender, address(this), assets);
    totalSupply += shares; balanceOf[receiver] += shares;
  }
}
contract RateLimits {
  struct RateLimitData { uint256 maxAmount; uint256 slope; uint256 lastAmount; uint256 lastUpdated; }
  mapping(bytes32 => RateLimitData) d;
  function set(bytes32 k, uint256 m, uint256 s, uint256 l, uint256 u) external { d[k] = RateLimitData(m, s, l, u); }
  function getRateLimitData(bytes32 k) external view returns (RateLimitData memory) { return d[k]; }
}`;

const ERC20 = new Interface(['function mint(address,uint256) returns (bool)', 'function approve(address,uint256) returns (bool)',
  'function balanceOf(address) view returns (uint256)']);
const YEAR = 31536000n;
const FROM = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const ALM = getAddress('0x' + 'a1'.repeat(20));
const BORROWER = getAddress('0x' + 'b0'.repeat(20));
const SSR = 1000000001547125957863212448n; // ~5% a year per second (the spec's 500 bps row)

const mode = process.argv[2];
const a = args(process.argv.slice(3));
const rpc = new Rpc(a.rpc);
const POOL = iface('Pool');

function compile() {
  return import('solc').then(({ default: solc }) => {
    const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources: { 'S.sol': { content: SRC } },
      settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } })));
    const errs = (out.errors || []).filter((e) => e.severity === 'error');
    if (errs.length) throw new Error(errs.map((e) => e.formattedMessage).join('\n'));
    return Object.fromEntries(Object.entries(out.contracts['S.sol']).map(([n, c]) => [n, { iface: new Interface(c.abi), bytecode: '0x' + c.evm.bytecode.object }]));
  });
}

const send = (from, to, ifc, fn, argv) => rpc.send(from, to, ifc.encodeFunctionData(fn, argv));
const mine = (n) => rpc.call('anvil_mine', [toBeHex(n), toBeHex(12)]);

async function deploy() {
  const m = JSON.parse(readFileSync(a.addresses, 'utf8'));
  const C = await compile();
  await rpc.call('evm_setAutomine', [true]);
  const by = Object.fromEntries(m.reserves.map((r) => [r.symbol, r]));
  const [usdc, weth, dai, wbtc] = ['USDC', 'WETH', 'DAI', 'WBTC'].map((s) => by[s]);
  const V = C.Vault4626;
  const vusdc = (await rpc.deploy(FROM, V.bytecode, V.iface, [usdc.asset, 'gUSDC', 0])).address;
  const vdai = (await rpc.deploy(FROM, V.bytecode, V.iface, [dai.asset, 'sDAIx', SSR])).address;
  const rl = (await rpc.deploy(FROM, C.RateLimits.bytecode, C.RateLimits.iface, [])).address;
  const key = keccak256(toUtf8Bytes('LIMIT_TEST_WBTC'));
  const now = Number(BigInt((await rpc.call('eth_getBlockByNumber', ['latest', false])).timestamp));
  await send(FROM, rl, C.RateLimits.iface, 'set', [key, 10n ** 14n, 10n ** 6n, 10n ** 10n, now]);
  for (const who of [ALM, BORROWER]) await rpc.call('anvil_setBalance', [who, toBeHex(10n ** 22n)]);
  const E = (n, d) => BigInt(n) * 10n ** BigInt(d);
  await send(FROM, usdc.asset, ERC20, 'mint', [ALM, E(1_000_000, 6)]);
  await send(FROM, weth.asset, ERC20, 'mint', [ALM, E(1_000, 18)]);
  await send(FROM, dai.asset, ERC20, 'mint', [ALM, E(1_000_000, 18)]);
  await send(FROM, wbtc.asset, ERC20, 'mint', [ALM, E(5, 8)]);
  await send(FROM, weth.asset, ERC20, 'mint', [BORROWER, E(1_000, 18)]);
  const MAX = (1n << 256n) - 1n;
  for (const t of [usdc, weth]) await send(ALM, t.asset, ERC20, 'approve', [m.pool, MAX]);
  await send(ALM, usdc.asset, ERC20, 'approve', [vusdc, MAX]);
  await send(ALM, dai.asset, ERC20, 'approve', [vdai, MAX]);
  await send(BORROWER, weth.asset, ERC20, 'approve', [m.pool, MAX]);
  await send(ALM, m.pool, POOL, 'supply', [usdc.asset, E(300_000, 6) + 123457n, ALM, 0]);
  await send(ALM, m.pool, POOL, 'supply', [weth.asset, E(200, 18) + 987654321n, ALM, 0]);
  await send(BORROWER, m.pool, POOL, 'supply', [weth.asset, E(500, 18), BORROWER, 0]);
  await send(BORROWER, m.pool, POOL, 'borrow', [usdc.asset, E(100_000, 6), 2, 0, BORROWER]);
  await send(BORROWER, m.pool, POOL, 'borrow', [weth.asset, E(50, 18), 2, 0, BORROWER]);
  await send(ALM, vusdc, V.iface, 'deposit', [E(250_000, 6) + 7n, ALM]);
  await send(ALM, vdai, V.iface, 'deposit', [E(400_000, 18) + 11n, ALM]);
  // a vault over the DAI vault's shares (as Fluid's over sUSDS): the ALM's shares of the DAI vault
  // are that venue's allocation, and neither they nor the nested ones are idle
  const vnest = (await rpc.deploy(FROM, V.bytecode, V.iface, [vdai, 'fsDAIx', SSR])).address;
  await send(ALM, vdai, V.iface, 'approve', [vnest, MAX]);
  await send(ALM, vnest, V.iface, 'deposit', [E(100_000, 18) + 5n, ALM]);
  // another depositor's shares, so the ALM holds part of the vault
  await send(FROM, usdc.asset, ERC20, 'mint', [FROM, E(50_000, 6)]);
  await send(FROM, usdc.asset, ERC20, 'approve', [vusdc, MAX]);
  await send(FROM, vusdc, V.iface, 'deposit', [E(50_000, 6), FROM]);
  // the vault earns between blocks: assets paid in, as a strategy's yield would
  for (const paid of [228_317n, 227_999n, 228_123n]) {
    await mine(40);
    await send(FROM, usdc.asset, ERC20, 'mint', [vusdc, paid]);
  }
  await mine(30);
  const state = { pool: m.pool, alm: ALM, vusdc, vdai, rl, usdc: usdc.asset, weth: weth.asset, dai: dai.asset, wbtc: wbtc.asset };
  writeFileSync(a.state, JSON.stringify(state, null, 2));
  const net = JSON.parse(readFileSync(a['network-in'], 'utf8'));
  net.liquidity_layer = {
    alm_proxy: ALM, rate_limits: rl,
    // the second key's asset is a venue's shares that no venue takes as its asset: still listed
    keys: [{ key, name: 'LIMIT_TEST_WBTC', asset: wbtc.asset },
      { key: keccak256(toUtf8Bytes('LIMIT_TEST_VAULT')), name: 'LIMIT_TEST_VAULT', asset: vusdc }],
    venues: [
      { id: 'sparklend-usdc', kind: 'sparklend', address: usdc.atoken, asset: usdc.asset, label: 'SparkLend USDC' },
      { id: 'aave-weth', kind: 'aave', address: weth.atoken, asset: weth.asset, label: 'Aave WETH' },
      { id: 'grow-usdc', kind: 'erc4626', address: vusdc, asset: usdc.asset, label: 'USDC vault', apr_window_blocks: 100 },
      { id: 'ssr-dai', kind: 'erc4626', address: vdai, asset: dai.asset, label: 'DAI savings', apr_source: 'ssr' },
      { id: 'nest-sdai', kind: 'erc4626', address: vnest, asset: vdai, label: 'DAI savings shares vault', apr_source: 'ssr' },
    ],
  };
  writeFileSync(a['network-out'], JSON.stringify(net, null, 2));
  if (a['bad-asset']) {
    const bad = structuredClone(net);
    bad.liquidity_layer.venues[2].asset = dai.asset;
    writeFileSync(a['bad-asset'], JSON.stringify(bad, null, 2));
  }
  if (a['bad-atoken']) {
    const bad = structuredClone(net);
    bad.liquidity_layer.venues[0].asset = weth.asset;
    writeFileSync(a['bad-atoken'], JSON.stringify(bad, null, 2));
  }
  console.log(`liquidity layer fixture at block ${await rpc.blockNumber()}`);
}

async function move() {
  const s = JSON.parse(readFileSync(a.state, 'utf8'));
  const C = await compile();
  await rpc.call('evm_setAutomine', [true]);
  await send(ALM, s.pool, POOL, 'withdraw', [s.usdc, 55_555_555_555n, ALM]);
  await send(ALM, s.vdai, C.Vault4626.iface, 'deposit', [10n ** 22n + 3n, ALM]);
  await mine(10);
  await send(FROM, s.usdc, ERC20, 'mint', [s.vusdc, 151_515n]);
  await mine(20);
  console.log(`moved to block ${await rpc.blockNumber()}`);
}

async function fixed() {
  const s = JSON.parse(readFileSync(a.state, 'utf8'));
  const C = await compile();
  const V = C.Vault4626;
  await rpc.call('evm_setAutomine', [true]);
  const [d, y, w] = [BigInt(a.deposit), BigInt(a.paid), Number(a.window)];
  const vault = (await rpc.deploy(FROM, V.bytecode, V.iface, [s.usdc, 'fUSDC', 0])).address;
  await send(ALM, s.usdc, ERC20, 'approve', [vault, (1n << 256n) - 1n]);
  await send(ALM, vault, V.iface, 'deposit', [d, ALM]);
  const from = await rpc.blockNumber();
  if (w > 1) await mine(w - 1);
  await send(FROM, s.usdc, ERC20, 'mint', [vault, y]);
  const head = await rpc.blockNumber();
  if (Number(head) - Number(from) !== w) throw new Error(`deposit at ${from}, head ${head}: not ${w} blocks apart`);
  const net = JSON.parse(readFileSync(a['network-in'], 'utf8'));
  net.liquidity_layer.venues.push({ id: 'fixed-usdc', kind: 'erc4626', address: vault, asset: s.usdc,
    label: 'Fixed USDC vault', apr_window_blocks: w });
  writeFileSync(a['network-out'], JSON.stringify(net, null, 2));
  console.log(`fixed vault: deposit at block ${from}, paid at block ${head}`);
}

async function expect() {
  const s = JSON.parse(readFileSync(a.state, 'utf8'));
  const net = JSON.parse(readFileSync(a.network, 'utf8'));
  const C = await compile();
  const V = C.Vault4626.iface;
  const head = await rpc.call('eth_getBlockByNumber', ['latest', false]);
  const n = Number(BigInt(head.number));
  const at = head.hash;
  const call = async (to, ifc, fn, argv, block = at) => {
    const data = ifc.encodeFunctionData(fn, argv);
    const res = await rpc.call('eth_call', [{ to, data }, typeof block === 'number' ? toBeHex(block) : { blockHash: block }]);
    return ifc.decodeFunctionResult(fn, res)[0];
  };
  const out = { block: n, allocations: {}, idle: {} };
  for (const v of net.liquidity_layer.venues) {
    let amount, apr;
    if (v.kind === 'sparklend' || v.kind === 'aave') {
      amount = await call(v.address, ERC20, 'balanceOf', [s.alm]);
      apr = (await call(s.pool, POOL, 'getReserveData', [v.asset])).currentLiquidityRate;
    } else {
      amount = await call(v.address, V, 'convertToAssets', [await call(v.address, V, 'balanceOf', [s.alm])]);
      if (v.apr_source === 'ssr') {
        apr = ((await call(v.address, V, 'ssr', [])) - RAY) * YEAR;
      } else {
        const w = v.apr_window_blocks ?? 100;
        const old = await rpc.call('eth_getBlockByNumber', [toBeHex(n - w), false]);
        const supply = await call(v.address, V, 'totalSupply', []);
        const a1 = await call(v.address, V, 'convertToAssets', [supply]);
        const a0 = await call(v.address, V, 'convertToAssets', [supply], old.hash);
        const dt = BigInt(head.timestamp) - BigInt(old.timestamp);
        apr = a1 < a0 ? 0n : ((a1 - a0) * RAY * YEAR) / (a0 * dt);
        if (apr === 0n) throw new Error(`${v.id}: the fixture should have earned over the window`);
      }
    }
    if (amount === 0n) throw new Error(`${v.id}: the fixture should hold an amount`);
    out.allocations[`${v.id}|${v.asset.toLowerCase()}`] = { asset: v.asset.toLowerCase(), amount: String(amount), apr_ray: String(apr) };
  }
  const assets = new Set([...net.liquidity_layer.venues.map((v) => v.asset.toLowerCase()),
    ...net.liquidity_layer.keys.filter((k) => k.asset).map((k) => k.asset.toLowerCase())]);
  // a venue's own shares (the DAI vault's, under nest-sdai) are its allocation already: idle 0
  const shares = new Set(net.liquidity_layer.venues.map((v) => v.address.toLowerCase()));
  for (const x of assets) {
    const deployed = Object.values(out.allocations).filter((q) => q.asset === x).reduce((t, q) => t + BigInt(q.amount), 0n);
    const held = await call(x, ERC20, 'balanceOf', [s.alm]);
    if (shares.has(x) && held === 0n) throw new Error(`${x}: the ALM proxy should hold shares of it directly too`);
    out.idle[x] = { amount: shares.has(x) ? '0' : String(held), deployed: String(deployed) };
  }
  writeFileSync(a.expect, JSON.stringify(out, null, 2));
  console.log(`expected allocations at block ${n}`);
}

// ---- a Curve StableSwap-NG-like pool and a Maple-like pool (kinds `curve` and erc4626 with
// `"amount": "exit_assets"`), on a chain of their own (no Aave market needed):
//
//   node tests/chain/ll_fixture.mjs curve-deploy --rpc URL --network-out C.json --state S.json
//        --bad-coins BAD.json
//       two coins of 6 and 18 decimals, a pool holding both (the ALM proxy holds part of its LP
//       supply; fees paid into it between blocks make its virtual price grow; admin fees make
//       balances(i) differ from the pool's coin balances), a Maple-like pool whose
//       convertToExitAssets deducts unrealised losses, ~130 blocks; BAD.json lists the coins swapped
//   node tests/chain/ll_fixture.mjs curve-expect --rpc URL --state S.json --network C.json --expect E.json
//       at the head, with BigInt on the contracts' own answers: per (venue, coin) of the pool
//       floor(balanceOf(alm) * balances(i) / totalSupply) and the APR of get_virtual_price() over
//       apr_window_blocks; for the Maple pool convertToExitAssets(balanceOf(alm)) (checked to differ
//       from convertToAssets) and its share-price APR; per coin the ALM's balance and the sum deployed
const SRC_CURVE = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;
contract Coin {
  string public symbol; uint8 public decimals; uint256 public totalSupply;
  mapping(address => uint256) public balanceOf;
  mapping(address => mapping(address => uint256)) public allowance;
  constructor(string memory s, uint8 d) { symbol = s; decimals = d; }
  function mint(address to, uint256 a) external { balanceOf[to] += a; totalSupply += a; }
  function approve(address sp, uint256 a) external returns (bool) { allowance[msg.sender][sp] = a; return true; }
  function transferFrom(address f, address to, uint256 a) external returns (bool) {
    if (allowance[f][msg.sender] != type(uint256).max) allowance[f][msg.sender] -= a;
    balanceOf[f] -= a; balanceOf[to] += a; return true;
  }
}
// The getters of a StableSwap-NG pool that sparkd reads (its own LP token, N_COINS, coins,
// balances without the admin fees, get_virtual_price); not Curve's invariant: the value here is
// the sum of the balances in 18-decimal units.
contract CurvePoolNG {
  string public constant symbol = "cvLP"; uint8 public constant decimals = 18;
  uint256 public totalSupply; mapping(address => uint256) public balanceOf;
  address[] internal cs; uint256[] internal rates; uint256[] public adminBalances;
  constructor(address[] memory c) {
    cs = c;
    for (uint256 i = 0; i < c.length; i++) { rates.push(10 ** (18 - uint256(Coin(c[i]).decimals()))); adminBalances.push(0); }
  }
  function N_COINS() external view returns (uint256) { return cs.length; }
  function coins(uint256 i) external view returns (address) { return cs[i]; }
  function balances(uint256 i) public view returns (uint256) { return Coin(cs[i]).balanceOf(address(this)) - adminBalances[i]; }
  function value() internal view returns (uint256 v) { for (uint256 i = 0; i < cs.length; i++) v += balances(i) * rates[i]; }
  function get_virtual_price() external view returns (uint256) { return value() * 1e18 / totalSupply; }
  function add_liquidity(uint256[] calldata amounts, address to) external returns (uint256 lp) {
    uint256 before = value(); uint256 add;
    for (uint256 i = 0; i < cs.length; i++) { Coin(cs[i]).transferFrom(msg.sender, address(this), amounts[i]); add += amounts[i] * rates[i]; }
    lp = totalSupply == 0 ? add : add * totalSupply / before;
    totalSupply += lp; balanceOf[to] += lp;
  }
  function setAdminBalance(uint256 i, uint256 a) external { adminBalances[i] = a; }
}
// A Maple pool's ERC-4626 getters: convertToExitAssets deducts the unrealised losses.
contract MaplePool {
  address public asset; string public constant symbol = "syrupT"; uint8 public constant decimals = 6;
  uint256 public totalSupply; uint256 public unrealizedLosses; mapping(address => uint256) public balanceOf;
  constructor(address a) { asset = a; }
  function totalAssets() public view returns (uint256) { return Coin(asset).balanceOf(address(this)); }
  function convertToAssets(uint256 s) public view returns (uint256) { return totalSupply == 0 ? s : s * totalAssets() / totalSupply; }
  function convertToExitAssets(uint256 s) public view returns (uint256) {
    return totalSupply == 0 ? s : s * (totalAssets() - unrealizedLosses) / totalSupply;
  }
  function deposit(uint256 a, address to) external returns (uint256 s) {
    s = totalSupply == 0 ? a : a * totalSupply / totalAssets();
    Coin(asset).transferFrom(msg.sender, address(this), a);
    totalSupply += s; balanceOf[to] += s;
  }
  function setUnrealizedLosses(uint256 l) external { unrealizedLosses = l; }
}
contract RateLimits {
  struct RateLimitData { uint256 maxAmount; uint256 slope; uint256 lastAmount; uint256 lastUpdated; }
  mapping(bytes32 => RateLimitData) d;
  function getRateLimitData(bytes32 k) external view returns (RateLimitData memory) { return d[k]; }
}`;

function compileCurve() {
  return import('solc').then(({ default: solc }) => {
    const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources: { 'C.sol': { content: SRC_CURVE } },
      settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } })));
    const errs = (out.errors || []).filter((e) => e.severity === 'error');
    if (errs.length) throw new Error(errs.map((e) => e.formattedMessage).join('\n'));
    return Object.fromEntries(Object.entries(out.contracts['C.sol']).map(([n, c]) => [n, { iface: new Interface(c.abi), bytecode: '0x' + c.evm.bytecode.object }]));
  });
}

async function curveDeploy() {
  const C = await compileCurve();
  await rpc.call('evm_setAutomine', [true]);
  const dep = async (name, argv) => (await rpc.deploy(FROM, C[name].bytecode, C[name].iface, argv)).address;
  const t6 = await dep('Coin', ['USDT6', 6]);
  const t18 = await dep('Coin', ['SUSDS18', 18]);
  const pool = await dep('CurvePoolNG', [[t6, t18]]);
  const maple = await dep('MaplePool', [t6]);
  const rl = await dep('RateLimits', []);
  const E = (n, d) => BigInt(n) * 10n ** BigInt(d);
  const MAX = (1n << 256n) - 1n;
  await rpc.call('anvil_setBalance', [ALM, toBeHex(10n ** 22n)]);
  for (const who of [ALM, FROM]) {
    await send(FROM, t6, C.Coin.iface, 'mint', [who, E(10_000_000, 6)]);
    await send(FROM, t18, C.Coin.iface, 'mint', [who, E(10_000_000, 18)]);
    for (const t of [t6, t18]) await send(who, t, C.Coin.iface, 'approve', [pool, MAX]);
    await send(who, t6, C.Coin.iface, 'approve', [maple, MAX]);
  }
  // odd amounts, so every floor division below has a remainder
  await send(FROM, pool, C.CurvePoolNG.iface, 'add_liquidity', [[E(1_200_000, 6) + 333n, E(800_000, 18) + 777n], FROM]);
  await send(ALM, pool, C.CurvePoolNG.iface, 'add_liquidity', [[E(700_000, 6) + 1n, E(1_100_000, 18) + 5n], ALM]);
  await send(ALM, maple, C.MaplePool.iface, 'deposit', [E(2_000_000, 6) + 9n, ALM]);
  await send(FROM, maple, C.MaplePool.iface, 'deposit', [E(500_000, 6), FROM]);
  for (const [f6, f18] of [[1_234_567n, 3n * 10n ** 17n + 1n], [987_654n, 2n * 10n ** 17n + 7n], [555_555n, 10n ** 17n]]) {
    await mine(40);
    // fees the pool keeps (its virtual price grows) and the Maple pool's interest
    await send(FROM, t6, C.Coin.iface, 'mint', [pool, f6]);
    await send(FROM, t18, C.Coin.iface, 'mint', [pool, f18]);
    await send(FROM, t6, C.Coin.iface, 'mint', [maple, f6 * 3n]);
  }
  await send(FROM, pool, C.CurvePoolNG.iface, 'setAdminBalance', [0, 400_001n]);
  await send(FROM, pool, C.CurvePoolNG.iface, 'setAdminBalance', [1, 10n ** 17n + 3n]);
  await send(FROM, maple, C.MaplePool.iface, 'setUnrealizedLosses', [E(40_000, 6) + 17n]);
  await mine(10);
  writeFileSync(a.state, JSON.stringify({ alm: ALM, pool, maple, t6, t18, rl }, null, 2));
  const net = {
    format: 'sparkd.network/1', name: 'anvil-curve', chain_id: Number(BigInt(await rpc.call('eth_chainId'))), start_block: 0,
    liquidity_layer: {
      alm_proxy: ALM, rate_limits: rl, keys: [],
      venues: [
        { id: 'curve-t6-t18', kind: 'curve', address: pool, asset: pool, coins: [t6, t18], label: 'Curve T6/T18', apr_window_blocks: 100 },
        { id: 'maple-t6', kind: 'erc4626', address: maple, asset: t6, label: 'Maple T6', amount: 'exit_assets' },
      ],
    },
  };
  writeFileSync(a['network-out'], JSON.stringify(net, null, 2));
  const bad = structuredClone(net);
  bad.liquidity_layer.venues[0].coins = [t18, t6];
  writeFileSync(a['bad-coins'], JSON.stringify(bad, null, 2));
  console.log(`curve fixture at block ${await rpc.blockNumber()}`);
}

async function curveExpect() {
  const s = JSON.parse(readFileSync(a.state, 'utf8'));
  const net = JSON.parse(readFileSync(a.network, 'utf8'));
  const C = await compileCurve();
  const head = await rpc.call('eth_getBlockByNumber', ['latest', false]);
  const n = Number(BigInt(head.number));
  const call = async (to, ifc, fn, argv, block = head.hash) => {
    const res = await rpc.call('eth_call', [{ to, data: ifc.encodeFunctionData(fn, argv) }, { blockHash: block }]);
    return ifc.decodeFunctionResult(fn, res)[0];
  };
  const windowApr = async (v, price) => {
    const old = await rpc.call('eth_getBlockByNumber', [toBeHex(n - (v.apr_window_blocks ?? 100)), false]);
    const a1 = await price(head.hash), a0 = await price(old.hash);
    const dt = BigInt(head.timestamp) - BigInt(old.timestamp);
    const apr = a1 < a0 ? 0n : ((a1 - a0) * RAY * YEAR) / (a0 * dt);
    if (apr === 0n) throw new Error(`${v.id}: the fixture should have earned over the window`);
    return apr;
  };
  const out = { block: n, allocations: {}, idle: {} };
  for (const v of net.liquidity_layer.venues) {
    if (v.kind === 'curve') {
      const P = C.CurvePoolNG.iface;
      const lp = await call(v.address, P, 'balanceOf', [s.alm]);
      const supply = await call(v.address, P, 'totalSupply', []);
      if (lp === 0n || lp === supply) throw new Error('the ALM proxy should hold part of the LP supply');
      const apr = await windowApr(v, (b) => call(v.address, P, 'get_virtual_price', [], b));
      for (let i = 0; i < v.coins.length; i++) {
        const bal = await call(v.address, P, 'balances', [i]);
        const amount = (lp * bal) / supply;
        if ((lp * bal) % supply === 0n) throw new Error('the fixture should leave a remainder to floor');
        out.allocations[`${v.id}|${v.coins[i].toLowerCase()}`] = { amount: String(amount), apr_ray: String(apr) };
      }
    } else {
      const M = C.MaplePool.iface;
      const shares = await call(v.address, M, 'balanceOf', [s.alm]);
      const exit = await call(v.address, M, 'convertToExitAssets', [shares]);
      const plain = await call(v.address, M, 'convertToAssets', [shares]);
      if (exit >= plain) throw new Error('the Maple double should deduct its losses');
      const supply = await call(v.address, M, 'totalSupply', []);
      const apr = await windowApr(v, (b) => call(v.address, M, 'convertToAssets', [supply], b));
      out.allocations[`${v.id}|${v.asset.toLowerCase()}`] = { amount: String(v.amount === 'exit_assets' ? exit : plain), apr_ray: String(apr) };
    }
  }
  for (const x of [s.t6, s.t18].map((t) => t.toLowerCase())) {
    const deployed = Object.entries(out.allocations).filter(([k]) => k.endsWith(`|${x}`)).reduce((t, [, q]) => t + BigInt(q.amount), 0n);
    out.idle[x] = { amount: String(await call(x, C.Coin.iface, 'balanceOf', [s.alm])), deployed: String(deployed) };
  }
  writeFileSync(a.expect, JSON.stringify(out, null, 2));
  console.log(`expected curve and maple allocations at block ${n}`);
}

const modes = { deploy, move, fixed, expect, 'curve-deploy': curveDeploy, 'curve-expect': curveExpect };
if (!modes[mode]) {
  console.error('usage: ll_fixture.mjs deploy|move|fixed|expect|curve-deploy|curve-expect ... (see this file)');
  process.exit(2);
}
modes[mode]().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
