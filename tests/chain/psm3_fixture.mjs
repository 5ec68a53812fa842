#!/usr/bin/env node
// Test doubles for an L2's sUSDS as `sparkd index` reads it from a PSM3 vault in the network file:
// an SSR oracle exposing SSROracleBase's getters (getSUSDSData, getChi, getRho, getSSR), a PSM3
// exposing usdc()/usds()/susds(), and the L2 USDS and sUSDS tokens. Writes a sparkd.network/1 file
// naming the PSM3 and its oracle, and the values the API must serve at time `at`, computed here
// with BigInt from the values set (spec protocol-math §1.1 rpow and chi), not from sparkd.
//   node tests/chain/psm3_fixture.mjs --rpc URL --network N.json --expect E.json
import { writeFileSync } from 'node:fs';
import { Interface, getAddress } from 'ethers';
import { args, Rpc, RAY } from './lib.mjs';

const SRC = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;
contract Token {
  string public symbol; uint8 public decimals; uint256 public totalSupply;
  constructor(string memory s, uint8 d, uint256 ts) { symbol = s; decimals = d; totalSupply = ts; }
}
contract SSROracle {
  struct SUSDSData { uint96 ssr; uint120 chi; uint40 rho; }
  SUSDSData d;
  constructor(uint96 s, uint120 c, uint40 r) { d = SUSDSData(s, c, r); }
  function getSUSDSData() external view returns (SUSDSData memory) { return d; }
  function getSSR() external view returns (uint256) { return d.ssr; }
  function getChi() external view returns (uint256) { return d.chi; }
  function getRho() external view returns (uint256) { return d.rho; }
}
contract PSM3 {
  address public usdc; address public usds; address public susds;
  constructor(address a, address b, address c) { usdc = a; usds = b; susds = c; }
}`;

const a = args();
const rpc = new Rpc(a.rpc);
const solc = (await import('solc')).default;
const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources: { 'S.sol': { content: SRC } },
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } })));
const errs = (out.errors || []).filter((e) => e.severity === 'error');
if (errs.length) throw new Error(errs.map((e) => e.formattedMessage).join('\n'));
const C = Object.fromEntries(Object.entries(out.contracts['S.sol']).map(([n, c]) => [n, { iface: new Interface(c.abi), bytecode: '0x' + c.evm.bytecode.object }]));
const from = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
await rpc.call('evm_setAutomine', [true]);
const deploy = (n, ctor) => rpc.deploy(from, C[n].bytecode, C[n].iface, ctor);
const now = Number(BigInt((await rpc.call('eth_getBlockByNumber', ['latest', false])).timestamp));

// ~5% APY per-second rate (the spec's table row for 500 bps), chi 1.08e27 plus a tail, rho an hour back
const ssr = 1000000001547125957863212448n, chi = 1081234567891234567891234567n, rho = now - 3600;
const supply = 123456789012345678901234567n;
const usdc = (await deploy('Token', ['USDC', 6, 0])).address;
const usds = (await deploy('Token', ['USDS', 18, 10n ** 27n])).address;
const susds = (await deploy('Token', ['sUSDS', 18, supply])).address;
const oracle = (await deploy('SSROracle', [ssr, chi, rho])).address;
const psm = (await deploy('PSM3', [usdc, usds, susds])).address;

// MakerDAO rpow, half-up at every step (protocol-math §1.1)
function rpow(x, n, base = RAY) {
  if (x === 0n) return n === 0n ? base : 0n;
  let z = n % 2n ? x : base;
  const half = base / 2n;
  for (n /= 2n; n; n /= 2n) {
    x = (x * x + half) / base;
    if (n % 2n) z = (z * x + half) / base;
  }
  return z;
}
const YEAR = 31536000n;
const at = now + 86400; // a day after the block: a projection the API evaluates per request
const chiAt = (rpow(ssr, BigInt(at - rho)) * chi) / RAY;
const frac = (chiAt % RAY).toString().padStart(27, '0');
const head = await rpc.call('eth_getBlockByNumber', ['latest', false]);
const expect = {
  at, vault: susds.toLowerCase(), kind: 'susds', symbol: 'sUSDS', decimals: 18, asset: usds.toLowerCase(),
  rate_ray: String(ssr), chi_stored_ray: String(chi), rho, chi_ray: String(chiAt),
  share_price: `${chiAt / RAY}.${frac}`, apr_ray: String((ssr - RAY) * YEAR), apy_ray: String(rpow(ssr, YEAR) - RAY),
  total_supply: String(supply), total_assets: String((supply * chiAt) / RAY),
};
writeFileSync(a.network, JSON.stringify({ format: 'sparkd.network/1', name: 'anvil psm3', chain_id: Number(BigInt(await rpc.call('eth_chainId'))),
  start_block: Number(BigInt(head.number)),
  savings_vaults: [{ kind: 'psm3', address: getAddress(psm), ssr_oracle: getAddress(oracle) }] }, null, 2));
writeFileSync(a.expect, JSON.stringify(expect, null, 2));
console.log(`psm3 fixture at block ${Number(BigInt(head.number))}`);
