// Shared helpers for the anvil fixture scripts (tests/chain/*.mjs): a raw JSON-RPC client with
// batching, the Aave v3 artifacts from npm @aave/core-v3, library linking, and starting anvil on
// a free 127.0.0.1 port. Kept dependency-free apart from ethers (ABI coding) and solc (one
// settable price feed), both in node_modules.
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Interface, getAddress, ZeroAddress } from 'ethers';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
const ART = path.join(ROOT, 'node_modules/@aave/core-v3/artifacts/contracts');
export const ANVIL = path.join(ROOT, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');

// Small CLI parser: --key value / --flag.
export function args(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[k] = argv[++i];
    else out[k] = true;
  }
  return out;
}

const ARTIFACT_PATHS = {
  PoolAddressesProvider: 'protocol/configuration/PoolAddressesProvider.sol',
  ACLManager: 'protocol/configuration/ACLManager.sol',
  Pool: 'protocol/pool/Pool.sol',
  PoolConfigurator: 'protocol/pool/PoolConfigurator.sol',
  DefaultReserveInterestRateStrategy: 'protocol/pool/DefaultReserveInterestRateStrategy.sol',
  AToken: 'protocol/tokenization/AToken.sol',
  VariableDebtToken: 'protocol/tokenization/VariableDebtToken.sol',
  StableDebtToken: 'protocol/tokenization/StableDebtToken.sol',
  AaveOracle: 'misc/AaveOracle.sol',
  AaveProtocolDataProvider: 'misc/AaveProtocolDataProvider.sol',
  MintableERC20: 'mocks/tokens/MintableERC20.sol',
  SupplyLogic: 'protocol/libraries/logic/SupplyLogic.sol',
  BorrowLogic: 'protocol/libraries/logic/BorrowLogic.sol',
  LiquidationLogic: 'protocol/libraries/logic/LiquidationLogic.sol',
  EModeLogic: 'protocol/libraries/logic/EModeLogic.sol',
  BridgeLogic: 'protocol/libraries/logic/BridgeLogic.sol',
  PoolLogic: 'protocol/libraries/logic/PoolLogic.sol',
  FlashLoanLogic: 'protocol/libraries/logic/FlashLoanLogic.sol',
  ConfiguratorLogic: 'protocol/libraries/logic/ConfiguratorLogic.sol',
};

const cache = new Map();
export function artifact(name) {
  if (!cache.has(name)) {
    const p = path.join(ART, ARTIFACT_PATHS[name], `${name}.json`);
    const a = JSON.parse(readFileSync(p, 'utf8'));
    cache.set(name, { abi: a.abi, iface: new Interface(a.abi), bytecode: a.bytecode, links: a.linkReferences });
  }
  return cache.get(name);
}
export const iface = (name) => artifact(name).iface;

// Replace the __$..$__ placeholders at the offsets hardhat recorded.
export function link(bytecode, links, libs) {
  let hex = bytecode.slice(2);
  for (const file of Object.keys(links)) {
    for (const lib of Object.keys(links[file])) {
      const addr = libs[lib];
      if (!addr) throw new Error(`library ${lib} not deployed`);
      for (const { start, length } of links[file][lib]) {
        hex = hex.slice(0, start * 2) + addr.slice(2).toLowerCase() + hex.slice((start + length) * 2);
      }
    }
  }
  return '0x' + hex;
}

// Raw JSON-RPC over HTTP. `batch` sends one JSON-RPC batch request (sparkd's indexer does the
// same, and so the fixture exercises anvil's batch path). Errors carry the node's message.
export class Rpc {
  constructor(url) {
    this.url = url;
    this.id = 1;
  }
  async post(body) {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return await r.json();
      } catch (e) {
        if (attempt >= 5) throw e;
        await new Promise((res) => setTimeout(res, 100 * (attempt + 1)));
      }
    }
  }
  async call(method, params = []) {
    const j = await this.post({ jsonrpc: '2.0', id: this.id++, method, params });
    if (j.error) {
      const e = new Error(`${method}: ${j.error.message}`);
      e.rpc = j.error;
      throw e;
    }
    return j.result;
  }
  // Returns [{result}|{error}] in request order.
  async batch(reqs, chunk = 500) {
    const out = [];
    for (let i = 0; i < reqs.length; i += chunk) {
      const part = reqs.slice(i, i + chunk).map(([method, params], k) => ({ jsonrpc: '2.0', id: k, method, params }));
      const j = await this.post(part);
      const byId = new Map(j.map((x) => [x.id, x]));
      for (let k = 0; k < part.length; k++) out.push(byId.get(k));
    }
    return out;
  }
  // eth_call helpers with ethers ABI coding.
  async view(to, ifc, fn, argsList = [], block = 'latest') {
    const data = ifc.encodeFunctionData(fn, argsList);
    const res = await this.call('eth_call', [{ to, data }, block]);
    return ifc.decodeFunctionResult(fn, res);
  }
  // Many views in one batch: items = [to, iface, fn, args]. Returns decoded Results (or Error).
  async views(items, block = 'latest') {
    const res = await this.batch(items.map(([to, ifc, fn, a]) => ['eth_call', [{ to, data: ifc.encodeFunctionData(fn, a || []) }, block]]));
    return res.map((r, k) => {
      if (!r || r.error) return new Error(`${items[k][2]}: ${r ? r.error.message : 'no answer'}`);
      return items[k][1].decodeFunctionResult(items[k][2], r.result);
    });
  }
  // Send a transaction from an unlocked/impersonated account (anvil --auto-impersonate) and wait
  // for its receipt. An explicit gas limit skips estimation, so a reverting call is still mined
  // (status 0) instead of being refused; `mustSucceed` turns that into an exception.
  async send(from, to, data, { gas = 8_000_000, mustSucceed = true, value } = {}) {
    const tx = { from, data, gas: '0x' + gas.toString(16) };
    if (to) tx.to = to;
    if (value) tx.value = '0x' + BigInt(value).toString(16);
    const hash = await this.call('eth_sendTransaction', [tx]);
    const rcpt = await this.receipt(hash);
    if (mustSucceed && rcpt.status !== '0x1') {
      const e = new Error(`transaction ${hash} reverted (${to ? data.slice(0, 10) : 'deploy'})`);
      e.receipt = rcpt;
      throw e;
    }
    return rcpt;
  }
  async receipt(hash) {
    for (let i = 0; i < 2000; i++) {
      const r = await this.call('eth_getTransactionReceipt', [hash]);
      if (r) return r;
      await new Promise((res) => setTimeout(res, 5));
    }
    throw new Error(`no receipt for ${hash}`);
  }
  async deploy(from, bytecode, ifc, ctorArgs = []) {
    const data = bytecode + (ifc ? ifc.encodeDeploy(ctorArgs).slice(2) : '');
    const r = await this.send(from, null, data, { gas: 29_000_000 });
    return { address: getAddress(r.contractAddress), block: parseInt(r.blockNumber, 16) };
  }
  async blockNumber() {
    return parseInt(await this.call('eth_blockNumber'), 16);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Fixed genesis time and a fixed 12 s step per block make a seeded run reproducible: interest
// depends only on the block sequence, never on the wall clock.
export const GENESIS_TIME = 1767225600; // 2026-01-01T00:00:00Z
export const BLOCK_SECONDS = 12;

// Start anvil (pruned history: states only in memory, at most `keep` of them) on a free port,
// for at most maxSeconds.
// Resolves to { url, port, proc, stop() } once the node answers.
export async function startAnvil({ keep = 4096, quiet = true, maxSeconds = 1800 } = {}) {
  if (!existsSync(ANVIL)) throw new Error(`anvil not found at ${ANVIL} (npm ci)`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const argv = ['--host', '127.0.0.1', '--port', String(port), '--prune-history', String(keep),
      '--auto-impersonate', '--timestamp', String(GENESIS_TIME), '--gas-limit', '1000000000',
      '--disable-code-size-limit', '--order', 'fifo', '--chain-id', '31337',
      // A base fee of 0 stays 0: anvil does not rewind its fee state on evm_revert, so a
      // moving base fee would make a replayed seed differ after a revert.
      '--block-base-fee-per-gas', '0'];
    // Under coreutils `timeout`: anvil is bounded in time even if this process is killed
    // before it can stop it (timeout passes our SIGTERM on to anvil).
    const proc = spawn('timeout', [String(maxSeconds), ANVIL, ...argv], { stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const url = `http://127.0.0.1:${port}`;
    const rpc = new Rpc(url);
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) break;
      try {
        await rpc.call('eth_chainId');
        await rpc.call('anvil_setBlockTimestampInterval', [BLOCK_SECONDS]);
        const stop = () => new Promise((res) => {
          if (proc.exitCode !== null) return res();
          proc.once('exit', () => res());
          proc.kill('SIGTERM');
        });
        return { url, port, proc, stop };
      } catch {
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    proc.kill('SIGKILL');
    if (!/address already in use/i.test(stderr)) throw new Error(`anvil did not start: ${stderr}`);
  }
  throw new Error('anvil: no free port after 5 attempts');
}

// Deterministic PRNG (mulberry32 over a 32-bit seed) for the driver.
export function prng(seed) {
  let a = Number(BigInt.asUintN(32, BigInt(seed))) >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
  };
}

export const RAY = 10n ** 27n;
export const MAX_UINT = (1n << 256n) - 1n;
export function rayMul(a, b) {
  return (a * b + RAY / 2n) / RAY;
}
export function rayDiv(a, b) {
  return (a * RAY + b / 2n) / b;
}
export { ZeroAddress };

// JSON with BigInt as decimal strings.
export function toJSON(x) {
  return JSON.stringify(x, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}
