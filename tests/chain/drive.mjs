#!/usr/bin/env node
// Drives seeded random users against the market aave_market.mjs deployed: supply, withdraw,
// borrow, repay (partial and max, from the wallet or with aTokens), aToken transfers, collateral
// on/off, eMode, price moves (the settable feeds), time jumps, liquidations of unhealthy
// accounts, and once, half-way, a governance change (DAI to LTV 0 / LT 1 bp, SparkLend's legacy
// setting). Deterministic for a seed: users are derived from it, every choice comes from a seeded
// PRNG and from chain state read at fixed points, blocks are mined explicitly (automine off,
// anvil started by lib.mjs with FIFO ordering and a fixed 12 s block step).
//
// Usage:
//   node tests/chain/drive.mjs --rpc URL --addresses A.json --seed 1 --users 30 --steps 150
//        [--batch 1]      actions per block; the benchmark uses e.g. --users 2000 --steps 4000 --batch 200
//        [--out S.json]   summary (also printed): blocks, transactions, reverts, liquidations, users
//        [--sawtooth N]   before the end (and any pause), N more users with WETH + DAI collateral and
//                         USDC debt near the threshold, then DAI to LT 1 bp: sawtooth health factors
//        [--pause SYM]    end with that reserve paused (one more block)
// The user list is appended to A.json ("users"). Every user's first action is a supply, so all
// N users are active. Reverted transactions are mined as they are (status 0): they are part of a
// realistic chain and the indexer must ignore them.
import { readFileSync, writeFileSync } from 'node:fs';
import { AbiCoder, getAddress, keccak256, solidityPackedKeccak256, Interface, toBeHex, zeroPadValue } from 'ethers';
import { args, iface, prng, Rpc, toJSON, MAX_UINT, BLOCK_SECONDS } from './lib.mjs';
import { FEED_ABI, RESERVES } from './aave_market.mjs';

const POOL = iface('Pool');
const ERC20 = new Interface(['function balanceOf(address) view returns (uint256)', 'function transfer(address,uint256) returns (bool)',
  'function allowance(address,address) view returns (uint256)']);
const FEED = new Interface(FEED_ABI);
const CONF = iface('PoolConfigurator');
const coder = AbiCoder.defaultAbiCoder();

export function userAddress(seed, i) {
  return getAddress('0x' + keccak256(coder.encode(['string', 'uint256', 'uint256'], ['sparkd-user', BigInt(seed), BigInt(i)])).slice(-40));
}

// Whole-token ranges per symbol for one supply (a user's wallet holds far more).
const SCALE = { WETH: [0.5, 60], wstETH: [0.5, 40], WBTC: [0.02, 3], weETH: [0.5, 40], DAI: [500, 250000], USDC: [500, 250000] };
const COLLATERALS = ['WETH', 'wstETH', 'WBTC', 'weETH', 'DAI'];

function units(x, dec) {
  // x: JS number of whole tokens -> integer base units (6 significant digits kept).
  const s = x.toFixed(6);
  const [w, f] = s.split('.');
  return (BigInt(w) * 10n ** BigInt(dec) + (BigInt(f) * 10n ** BigInt(dec)) / 1000000n);
}

// OpenZeppelin ERC20 (Aave's copy, inherited first by MintableERC20): _balances at slot 0,
// _allowances at slot 1. Writing them gives a wallet funds and the Pool an allowance without a
// transaction per user (checked once by reading balanceOf/allowance back).
const balSlot = (u) => solidityPackedKeccak256(['uint256', 'uint256'], [u, 0]);
const allowSlot = (u, spender) => solidityPackedKeccak256(['uint256', 'bytes32'], [spender, solidityPackedKeccak256(['uint256', 'uint256'], [u, 1])]);

async function fund(rpc, m, who) {
  const reqs = [];
  const big = zeroPadValue(toBeHex(10n ** 40n), 32);
  const max = zeroPadValue(toBeHex(MAX_UINT), 32);
  for (const u of who) {
    reqs.push(['anvil_setBalance', [u, toBeHex(10n ** 22n)]]);
    for (const r of m.reserves) {
      reqs.push(['anvil_setStorageAt', [r.asset, balSlot(u), big]]);
      reqs.push(['anvil_setStorageAt', [r.asset, allowSlot(u, m.pool), max]]);
    }
  }
  const res = await rpc.batch(reqs);
  const bad = res.find((x) => !x || x.error);
  if (bad) throw new Error(`funding failed: ${JSON.stringify(bad)}`);
}

export async function drive(rpc, m, { seed = 1, users: N = 30, steps = 150, batch = 1, pause = null, sawtooth = 0, log = () => {} } = {}) {
  const rng = prng(BigInt(seed) * 7919n + 17n);
  const users = Array.from({ length: N }, (_, i) => userAddress(seed, i));
  const bySym = Object.fromEntries(m.reserves.map((r) => [r.symbol, r]));
  await fund(rpc, m, [...users, m.liquidator]);
  {
    const r0 = m.reserves[0];
    const [b] = await rpc.view(r0.asset, ERC20, 'balanceOf', [users[0]]);
    const [a] = await rpc.view(r0.asset, ERC20, 'allowance', [users[0], m.pool]);
    if (b !== 10n ** 40n || a !== MAX_UINT) throw new Error('token storage layout is not the expected one');
  }
  const prices = Object.fromEntries(m.reserves.map((r) => [r.symbol, BigInt(r.price)]));
  const initial = { ...prices };
  const stats = { blocks: 0, txs: 0, reverted: 0, liquidations: 0, price_moves: 0, time_jumps: 0, by_action: {} };
  const borrowers = new Set();
  await rpc.call('evm_setAutomine', [false]);
  let lastTs = parseInt((await rpc.call('eth_getBlockByNumber', ['latest', false])).timestamp, 16);
  let pendingJump = 0;

  async function readUsers(list) {
    const items = [];
    for (const u of list) {
      items.push([m.pool, POOL, 'getUserAccountData', [u]]);
      items.push([m.pool, POOL, 'getUserEMode', [u]]);
      items.push([m.pool, POOL, 'getUserConfiguration', [u]]);
      for (const r of m.reserves) {
        items.push([r.atoken, ERC20, 'balanceOf', [u]]);
        items.push([r.variable_debt_token, ERC20, 'balanceOf', [u]]);
      }
    }
    const res = await rpc.views(items);
    const per = 3 + 2 * m.reserves.length;
    return list.map((u, k) => {
      const o = res.slice(k * per, (k + 1) * per);
      for (const x of o) if (x instanceof Error) throw x;
      const cfg = o[2][0].data;
      const st = { u, acct: o[0], emode: Number(o[1][0]), supplied: {}, debt: {}, collateral: {} };
      m.reserves.forEach((r, i) => {
        st.supplied[r.symbol] = o[3 + 2 * i][0];
        st.debt[r.symbol] = o[4 + 2 * i][0];
        st.collateral[r.symbol] = ((cfg >> BigInt(2 * i + 1)) & 1n) === 1n; // reserve id = listing order
      });
      return st;
    });
  }

  const amountOf = (sym) => {
    const [lo, hi] = SCALE[sym];
    return units(lo * Math.exp(rng.next() * Math.log(hi / lo)), bySym[sym].decimals);
  };
  const tx = (from, to, data, action) => ({ from, to, data, action });
  const P = (fn, a) => POOL.encodeFunctionData(fn, a);

  function plan(st, first) {
    const u = st.u;
    if (first) {
      const sym = rng.pick(COLLATERALS);
      return [tx(u, m.pool, P('supply', [bySym[sym].asset, amountOf(sym), u, 0]), 'supply')];
    }
    const held = Object.keys(st.supplied).filter((s) => st.supplied[s] > 0n);
    const owed = Object.keys(st.debt).filter((s) => st.debt[s] > 0n);
    const roll = rng.next();
    if (roll < 0.2) {
      const sym = rng.chance(0.8) ? rng.pick(COLLATERALS) : 'USDC';
      return [tx(u, m.pool, P('supply', [bySym[sym].asset, amountOf(sym), u, 0]), 'supply')];
    }
    if (roll < 0.5) {
      // Borrow a fraction of the headroom; eMode users borrow inside their category.
      const avail = st.acct[2]; // availableBorrowsBase (8 decimals USD)
      if (avail === 0n) return [];
      let choices = ['WETH', 'WBTC', 'DAI', 'USDC', 'wstETH'];
      if (st.emode === 1) choices = ['WETH', 'wstETH'];
      if (st.emode === 2) choices = ['USDC'];
      if (st.collateral.weETH) choices = ['DAI', 'USDC']; // isolated collateral: borrowable-in-isolation only
      const sym = rng.pick(choices);
      const r = bySym[sym];
      const f = BigInt(rng.int(10, 99));
      const amt = (avail * f * 10n ** BigInt(r.decimals)) / (100n * prices[sym]);
      if (amt === 0n) return [];
      borrowers.add(u);
      return [tx(u, m.pool, P('borrow', [r.asset, amt, 2, 0, u]), 'borrow')];
    }
    if (roll < 0.62 && owed.length) {
      const sym = rng.pick(owed);
      const r = bySym[sym];
      const k = rng.next();
      const amt = k < 0.35 ? MAX_UINT : (st.debt[sym] * BigInt(rng.int(5, 90))) / 100n + 1n;
      if (k > 0.9 && st.supplied[sym] > 0n) return [tx(u, m.pool, P('repayWithATokens', [r.asset, amt, 2]), 'repay_atokens')];
      return [tx(u, m.pool, P('repay', [r.asset, amt, 2, u]), k < 0.35 ? 'repay_max' : 'repay')];
    }
    if (roll < 0.74 && held.length) {
      const sym = rng.pick(held);
      const amt = rng.chance(0.4) ? MAX_UINT : (st.supplied[sym] * BigInt(rng.int(5, 95))) / 100n;
      return [tx(u, m.pool, P('withdraw', [bySym[sym].asset, amt, u]), amt === MAX_UINT ? 'withdraw_max' : 'withdraw')];
    }
    if (roll < 0.82 && held.length) {
      const sym = rng.pick(held);
      return [tx(u, m.pool, P('setUserUseReserveAsCollateral', [bySym[sym].asset, !st.collateral[sym]]), 'collateral_toggle')];
    }
    if (roll < 0.9) {
      const cat = rng.pick([0, 1, 2].filter((c) => c !== st.emode));
      return [tx(u, m.pool, P('setUserEMode', [cat]), 'emode')];
    }
    if (held.length) {
      // aToken transfer to another user (Transfer + BalanceTransfer events).
      const sym = rng.pick(held);
      const to = users[rng.int(0, users.length - 1)];
      if (to === u) return [];
      const amt = (st.supplied[sym] * BigInt(rng.int(5, 60))) / 100n;
      return [tx(u, bySym[sym].atoken, ERC20.encodeFunctionData('transfer', [to, amt]), 'atoken_transfer')];
    }
    return [];
  }

  function priceMove() {
    const r = rng.pick(m.reserves);
    const stable = r.symbol === 'DAI' || r.symbol === 'USDC';
    const pctMove = stable ? rng.int(-80, 80) / 100 : rng.int(-1500, 1200) / 100; // drifts down: liquidations happen
    let p = (prices[r.symbol] * BigInt(Math.round((100 + pctMove) * 1e4))) / 1000000n;
    const lo = initial[r.symbol] / 2n, hi = initial[r.symbol] * 2n;
    if (p < lo) p = lo;
    if (p > hi) p = hi;
    prices[r.symbol] = p;
    stats.price_moves++;
    return tx(m.deployer, r.aggregator, FEED.encodeFunctionData('setAnswer', [p]), 'price');
  }

  async function liquidations() {
    const list = [...borrowers];
    if (!list.length) return [];
    const acc = await rpc.views(list.map((u) => [m.pool, POOL, 'getUserAccountData', [u]]));
    const bad = list.filter((u, k) => !(acc[k] instanceof Error) && acc[k][1] > 0n && acc[k][5] < 10n ** 18n);
    if (!bad.length) return [];
    const sts = await readUsers(bad);
    const out = [];
    for (const st of sts) {
      const coll = Object.keys(st.supplied).filter((s) => st.supplied[s] > 0n && st.collateral[s]);
      const owed = Object.keys(st.debt).filter((s) => st.debt[s] > 0n);
      if (!coll.length || !owed.length) continue;
      const c = rng.pick(coll), d = rng.pick(owed);
      const cover = rng.chance(0.5) ? MAX_UINT : st.debt[d] / BigInt(rng.int(3, 10)) + 1n;
      out.push(tx(m.liquidator, m.pool, P('liquidationCall', [bySym[c].asset, bySym[d].asset, st.u, cover, rng.chance(0.3)]), 'liquidation'));
    }
    return out;
  }

  async function mine(txs) {
    const hashes = [];
    for (const t of txs) {
      // Explicit fees: left to anvil, they come from its fee estimator, which an evm_revert
      // does not rewind (the same seed would then sign other transactions).
      hashes.push(await rpc.call('eth_sendTransaction', [{ from: t.from, to: t.to, data: t.data, gas: '0x' + (3_000_000).toString(16),
        maxFeePerGas: '0x174876e800', maxPriorityFeePerGas: '0x3b9aca00' }]));
      stats.by_action[t.action] = (stats.by_action[t.action] || 0) + 1;
    }
    // Every block's timestamp is set explicitly (previous + 12 s + any pending jump): anvil's own
    // clock survives evm_revert, so this keeps a seed's chain identical after a revert too.
    lastTs += BLOCK_SECONDS + pendingJump;
    pendingJump = 0;
    await rpc.call('evm_mine', [lastTs]);
    stats.blocks++;
    stats.txs += txs.length;
    const rc = await rpc.batch(hashes.map((h) => ['eth_getTransactionReceipt', [h]]));
    rc.forEach((r, k) => {
      if (!r || !r.result) throw new Error(`transaction ${hashes[k]} was not mined`);
      if (r.result.status !== '0x1') {
        stats.reverted++;
        stats.reverted_by = stats.reverted_by || {};
        stats.reverted_by[txs[k].action] = (stats.reverted_by[txs[k].action] || 0) + 1;
      }
      if (r.result.status === '0x1' && txs[k].action === 'liquidation') stats.liquidations++;
    });
  }

  const rounds = Math.ceil(Math.max(steps, N) / batch);
  const introRounds = Math.ceil(N / batch);
  const govRound = Math.floor(rounds / 2);
  let done = 0;
  for (let round = 0; round < rounds; round++) {
    const actors = [];
    if (round < introRounds) {
      for (let i = round * batch; i < Math.min(N, (round + 1) * batch); i++) actors.push(users[i]);
    } else {
      const seen = new Set();
      for (let k = 0; k < batch && done + k < steps; k++) {
        const u = users[rng.int(0, N - 1)];
        if (!seen.has(u)) seen.add(u), actors.push(u);
      }
    }
    const txs = [];
    if (actors.length && round < introRounds) {
      for (const u of actors) txs.push(...plan({ u }, true)); // a first supply needs no state
    } else if (actors.length) {
      const sts = await readUsers(actors);
      for (const st of sts) txs.push(...plan(st, round < introRounds));
    }
    done += actors.length;
    if (round >= introRounds) {
      if (rng.chance(0.2)) txs.push(priceMove());
      if (round === govRound) {
        txs.push(tx(m.deployer, m.pool_configurator, CONF.encodeFunctionData('configureReserveAsCollateral', [bySym.DAI.asset, 0, 1, 10450]), 'governance'));
      }
      if (rng.chance(0.1)) {
        const secs = rng.int(3600, 45 * 86400);
        pendingJump += secs;
        stats.time_jumps++;
      }
    }
    if (txs.length) await mine(txs);
    if (round >= introRounds && rng.chance(0.15)) {
      const l = await liquidations();
      if (l.length) await mine(l);
    }
    if (round % 50 === 0) log(`round ${round}/${rounds}`);
  }
  // A last sweep so the final state has had its liquidations.
  const l = await liquidations();
  if (l.length) await mine(l);
  // Sawtooth accounts: Aave floors avgLT to whole bps, so with DAI at LT 1 bp beside
  // WETH the HF is a sawtooth in DAI's price and crosses 1 many times near the threshold. DAI is
  // made collateral-capable for one block (a supply of an LTV-0 asset is not enabled as
  // collateral), N users supply WETH + DAI and borrow USDC at the threshold value they will have
  // at LT 1 bp times 1 + (-8 .. +8) bps, a lender supplies the USDC; the next block sets DAI back
  // to LTV 0 / LT 1 bp. Some end just safe, some just below 1, all within the sawtooth's teeth.
  if (sawtooth > 0) {
    const sw = Array.from({ length: sawtooth }, (_, i) => userAddress(Number(seed) + 1000000, i));
    const lender = userAddress(Number(seed) + 2000000, 0);
    await fund(rpc, m, [...sw, lender]);
    const W = bySym.WETH, Dai = bySym.DAI, U = bySym.USDC;
    const txs = [tx(m.deployer, m.pool_configurator, CONF.encodeFunctionData('configureReserveAsCollateral', [Dai.asset, 7400, 7600, 10450]), 'governance'),
      tx(lender, m.pool, POOL.encodeFunctionData('supply', [U.asset, 10n ** 9n * 10n ** 6n, lender, 0]), 'supply')];
    sw.forEach((u, i) => {
      const w = BigInt(1 + (i % 3)) * 10n ** 18n, x = BigInt(30000 * (1 + (i % 4))) * 10n ** 18n;
      const wv = (w * prices.WETH) / 10n ** 18n, v = (x * prices.DAI) / 10n ** 18n, c = wv + v;
      const avg = (wv * BigInt(RESERVES.find((r) => r.symbol === 'WETH').lt) + v * 1n) / c;
      const thr = (c * avg + 5000n) / 10000n;
      const debtBase = (thr * BigInt(10000 + ((i % 9) - 4) * 2)) / 10000n;
      const debt = (debtBase * 10n ** 6n) / prices.USDC;
      txs.push(tx(u, m.pool, POOL.encodeFunctionData('supply', [W.asset, w, u, 0]), 'supply'));
      txs.push(tx(u, m.pool, POOL.encodeFunctionData('supply', [Dai.asset, x, u, 0]), 'supply'));
      txs.push(tx(u, m.pool, POOL.encodeFunctionData('borrow', [U.asset, debt, 2, 0, u]), 'borrow'));
    });
    await mine(txs);
    await mine([tx(m.deployer, m.pool_configurator, CONF.encodeFunctionData('configureReserveAsCollateral', [Dai.asset, 0, 1, 10450]), 'governance')]);
    users.push(...sw, lender);
  }
  // Optionally end with a paused reserve (the emergency admin's setReservePause): quotes on a
  // paused reserve must refuse everything, as the Pool does.
  if (pause) await mine([tx(m.deployer, m.pool_configurator, CONF.encodeFunctionData('setReservePause', [bySym[pause].asset, true]), 'pause')]);
  await rpc.call('evm_setAutomine', [true]);
  const head = await rpc.call('eth_getBlockByNumber', ['latest', false]);
  return { seed, users, head: parseInt(head.number, 16), head_hash: head.hash, ...stats };
}

async function main() {
  const a = args();
  if (!a.rpc || !a.addresses) throw new Error('need --rpc URL --addresses A.json (see the top of this file)');
  const rpc = new Rpc(a.rpc);
  const m = JSON.parse(readFileSync(a.addresses, 'utf8'));
  const t0 = Date.now();
  const res = await drive(rpc, m, {
    seed: a.seed ?? 1, users: Number(a.users ?? 30), steps: Number(a.steps ?? 150), batch: Number(a.batch ?? 1), pause: a.pause || null, sawtooth: Number(a.sawtooth ?? 0),
    log: a.quiet ? () => {} : (s) => console.error(s),
  });
  res.seconds = (Date.now() - t0) / 1000;
  const set = new Set(m.users || []);
  for (const u of res.users) set.add(u);
  m.users = [...set];
  writeFileSync(a.addresses, toJSON(m) + '\n');
  const summary = { ...res, users: res.users.length };
  if (a.out) writeFileSync(a.out, toJSON(summary) + '\n');
  console.log(toJSON(summary));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e.stack || String(e));
    process.exit(1);
  });
}
