#!/usr/bin/env node
// Test doubles exposing the getters `sparkd index` reads from savings vaults and the liquidity
// layer's RateLimits (sDAI and its Pot, sUSDS, a Spark Vault V2, RateLimits.getRateLimitData),
// deployed on anvil with seeded values; writes a sparkd.network/1 file naming them and the values
// set (the expected answers), with the block they were read at.
//   node tests/chain/savings_fixture.mjs --rpc URL --network N.json --expect E.json [--seed 1]
import { writeFileSync } from 'node:fs';
import { Interface, getAddress, keccak256, toUtf8Bytes } from 'ethers';
import { args, Rpc, prng, RAY } from './lib.mjs';

const SRC = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;
contract Token {
  string public symbol; uint8 public decimals; uint256 public totalSupply;
  mapping(address => uint256) public balanceOf;
  constructor(string memory s, uint8 d) { symbol = s; decimals = d; }
  function setBalance(address a, uint256 v) external { balanceOf[a] = v; }
}
contract Pot {
  uint256 public chi; uint256 public rho; uint256 public dsr;
  function set(uint256 c, uint256 r, uint256 d) external { chi = c; rho = r; dsr = d; }
}
contract Vault {
  address public asset; address public pot; string public symbol; uint8 public decimals;
  uint256 public totalSupply; uint192 public chi; uint64 public rho;
  uint256 public ssr; uint256 public vsr; uint256 public minVsr; uint256 public maxVsr; uint256 public depositCap;
  constructor(address a, address p, string memory s, uint8 d) { asset = a; pot = p; symbol = s; decimals = d; }
  function set(uint256 ts, uint192 c, uint64 r, uint256 rate, uint256 mn, uint256 mx, uint256 cap) external {
    totalSupply = ts; chi = c; rho = r; ssr = rate; vsr = rate; minVsr = mn; maxVsr = mx; depositCap = cap;
  }
}
contract RateLimits {
  struct RateLimitData { uint256 maxAmount; uint256 slope; uint256 lastAmount; uint256 lastUpdated; }
  mapping(bytes32 => RateLimitData) d;
  function set(bytes32 k, uint256 m, uint256 s, uint256 l, uint256 u) external { d[k] = RateLimitData(m, s, l, u); }
  function getRateLimitData(bytes32 k) external view returns (RateLimitData memory) { return d[k]; }
}`;

const a = args();
const rpc = new Rpc(a.rpc);
const rnd = prng(BigInt(a.seed ?? 1)).next;
const big = (n) => { let v = 0n; for (let i = 0; i < n; i++) v = (v << 32n) | BigInt(Math.floor(rnd() * 2 ** 32)); return v; };
const solc = (await import('solc')).default;
const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources: { 'S.sol': { content: SRC } },
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } })));
const errs = (out.errors || []).filter((e) => e.severity === 'error');
if (errs.length) throw new Error(errs.map((e) => e.formattedMessage).join('\n'));
const C = Object.fromEntries(Object.entries(out.contracts['S.sol']).map(([n, c]) => [n, { iface: new Interface(c.abi), bytecode: '0x' + c.evm.bytecode.object }]));
const from = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
await rpc.call('evm_setAutomine', [true]);
const deploy = (n, ctor) => rpc.deploy(from, C[n].bytecode, C[n].iface, ctor);
const send = (to, n, fn, args_) => rpc.send(from, to, C[n].iface.encodeFunctionData(fn, args_));
const now = Number(BigInt((await rpc.call('eth_getBlockByNumber', ['latest', false])).timestamp));

const dai = (await deploy('Token', ['DAI', 18])).address;
const usds = (await deploy('Token', ['USDS', 18])).address;
const usdc = (await deploy('Token', ['USDC', 6])).address;
const pot = (await deploy('Pot', [])).address;
const sdai = (await deploy('Vault', [dai, pot, 'sDAI', 18])).address;
const susds = (await deploy('Vault', [usds, pot, 'sUSDS', 18])).address;
const spusdc = (await deploy('Vault', [usdc, pot, 'spUSDC', 6])).address;
const rl = (await deploy('RateLimits', [])).address;
const rate = () => RAY + big(2) % 3000000000000000000n; // up to ~10% APY per second factor
const chi = () => RAY + big(3) % (RAY / 2n);
const expect = { vaults: {}, rate_limits: {} };
const dsr = rate(), potChi = chi(), potRho = now - 1000;
await send(pot, 'Pot', 'set', [potChi, potRho, dsr]);
const sdaiSupply = big(3);
await send(sdai, 'Vault', 'set', [sdaiSupply, 0, 0, 0, 0, 0, 0]);
expect.vaults[sdai.toLowerCase()] = { kind: 'sdai', asset: dai.toLowerCase(), chi: String(potChi), rho: potRho, rate: String(dsr), total_supply: String(sdaiSupply) };
const ssr = rate(), sChi = chi(), sSupply = big(3);
await send(susds, 'Vault', 'set', [sSupply, sChi, now - 500, ssr, 0, 0, 0]);
expect.vaults[susds.toLowerCase()] = { kind: 'susds', asset: usds.toLowerCase(), chi: String(sChi), rho: now - 500, rate: String(ssr), total_supply: String(sSupply) };
const vsr = rate(), vChi = chi(), vSupply = big(2), cap = big(3), idle = big(2);
await send(spusdc, 'Vault', 'set', [vSupply, vChi, now - 200, vsr, RAY, vsr + 5n, cap]);
await send(usdc, 'Token', 'setBalance', [spusdc, idle]);
expect.vaults[spusdc.toLowerCase()] = { kind: 'spark_vault_v2', asset: usdc.toLowerCase(), chi: String(vChi), rho: now - 200, rate: String(vsr),
  min_rate: String(RAY), max_rate: String(vsr + 5n), deposit_cap: String(cap), total_supply: String(vSupply), idle_assets: String(idle) };
const keys = [];
for (const name of ['LIMIT_USDS_MINT', 'LIMIT_USDC_TO_CCTP']) {
  const key = keccak256(toUtf8Bytes(name));
  const m = big(3), s = big(2), l = m / 3n, u = now - 77;
  await send(rl, 'RateLimits', 'set', [key, m, s, l, u]);
  keys.push({ key, name });
  expect.rate_limits[key] = { name, max_amount: String(m), slope: String(s), last_amount: String(l), last_updated: u };
}
const head = await rpc.call('eth_getBlockByNumber', ['latest', false]);
expect.block = { number: Number(BigInt(head.number)), hash: head.hash };
writeFileSync(a.network, JSON.stringify({ format: 'sparkd.network/1', name: 'anvil savings', chain_id: Number(BigInt(await rpc.call('eth_chainId'))),
  start_block: expect.block.number,
  savings_vaults: [{ kind: 'sdai', address: sdai }, { kind: 'susds', address: susds }, { kind: 'spark_vault_v2', address: spusdc }],
  liquidity_layer: { alm_proxy: getAddress('0x' + '11'.repeat(20)), rate_limits: rl, keys } }, null, 2));
writeFileSync(a.expect, JSON.stringify(expect, null, 2));
console.log(`savings fixture at block ${expect.block.number}`);
