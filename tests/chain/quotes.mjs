#!/usr/bin/env node
// Quotes against execution: for seeded random actions by the fixture's users, sparkd's quote
// (POST /v1/quotes, evaluated at T = served block time + 12 s) against what the Pool does with
// the same action sent from that account in the next block, at T:
//   - the verdict: the quote passes ⇔ the transaction succeeds; when both fail, the quote's
//     error_code is the revert's Errors.sol code (names from the Errors library's own getters);
//   - after a passing action, the quoted account (health factor, collateral, debt, available
//     borrows, LTV, threshold) equals getUserAccountData after the transaction;
//   - a failing step's `max_amount` (largest amount that would pass), when > 0, passes on chain
//     and one unit more fails.
// The chain is put back after each trial (evm_snapshot / evm_revert), so every quote is against
// the served state. Prints each disagreement; exit 1 when there is one.
//   node tests/chain/quotes.mjs --rpc URL --addresses A.json --sparkd URL [--chain 31337]
//        [--seed 1] [--trials 40]
import { readFileSync } from 'node:fs';
import { Interface, AbiCoder } from 'ethers';
import { args, iface, prng, Rpc, MAX_UINT, BLOCK_SECONDS } from './lib.mjs';

const a = args();
const chain = Number(a.chain || 31337);
const m = JSON.parse(readFileSync(a.addresses, 'utf8'));
const rpc = new Rpc(a.rpc);
const rng = prng(BigInt(a.seed || 1) * 31337n + 5n);
const POOL = iface('Pool');
const ERR = new Interface(JSON.parse(readFileSync(new URL('../../node_modules/@aave/core-v3/artifacts/contracts/protocol/libraries/helpers/Errors.sol/Errors.json', import.meta.url), 'utf8')).abi);
const bySym = Object.fromEntries(m.reserves.map((r) => [r.symbol, r]));
const byAsset = Object.fromEntries(m.reserves.map((r) => [r.asset.toLowerCase(), r]));
const FEES = { maxFeePerGas: '0x174876e800', maxPriorityFeePerGas: '0x3b9aca00' };

// Errors.sol code -> name, from the library's own getters (run from its runtime code via a state
// override: nothing is deployed, the chain does not move).
const errArt = JSON.parse(readFileSync(new URL('../../node_modules/@aave/core-v3/artifacts/contracts/protocol/libraries/helpers/Errors.sol/Errors.json', import.meta.url), 'utf8'));
const ERRS_AT = '0x00000000000000000000000000000000000e4405';
const errName = {};
{
  const fns = ERR.fragments.filter((f) => f.type === 'function');
  const res = await rpc.batch(fns.map((f) => ['eth_call', [{ to: ERRS_AT, data: ERR.encodeFunctionData(f.name, []) }, 'latest',
    { [ERRS_AT]: { code: errArt.deployedBytecode } }]]));
  fns.forEach((f, k) => { if (res[k].result) errName[ERR.decodeFunctionResult(f.name, res[k].result)[0]] = f.name; });
}
const coder = AbiCoder.defaultAbiCoder();
function revertCode(data) {
  if (!data || data === '0x') return '(empty revert)';
  if (data.startsWith('0x08c379a0')) return coder.decode(['string'], '0x' + data.slice(10))[0];
  return `(revert ${data.slice(0, 18)})`;
}

async function get(path) {
  const r = await fetch(a.sparkd + path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}
async function quote(body) {
  const r = await fetch(a.sparkd + '/v1/quotes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`POST /v1/quotes ${JSON.stringify(body)}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

function txData(act, amount) {
  const r = act.asset ? bySym[act.asset] : null;
  switch (act.type) {
    case 'supply': return POOL.encodeFunctionData('supply', [r.asset, amount, act.user, 0]);
    case 'withdraw': return POOL.encodeFunctionData('withdraw', [r.asset, amount, act.user]);
    case 'borrow': return POOL.encodeFunctionData('borrow', [r.asset, amount, 2, 0, act.user]);
    case 'repay': return POOL.encodeFunctionData('repay', [r.asset, amount, 2, act.user]);
    case 'set_collateral': return POOL.encodeFunctionData('setUserUseReserveAsCollateral', [r.asset, act.enabled]);
    case 'set_emode': return POOL.encodeFunctionData('setUserEMode', [act.category]);
  }
  throw new Error(act.type);
}

// The action at block H with the next block's time T: { ok, code }.
async function simulate(user, data, H, T) {
  const j = await rpc.post({ jsonrpc: '2.0', id: 1, method: 'eth_call',
    params: [{ from: user, to: m.pool, data, gas: '0x7a1200' }, H, {}, { time: '0x' + T.toString(16), number: '0x' + (parseInt(H, 16) + 1).toString(16) }] });
  if (!j.error) return { ok: true };
  return { ok: false, code: revertCode(j.error.data) };
}

const problems = [];
const known = [];
let trials = 0, passes = 0, fails = 0, maxChecks = 0;
const users = m.users || [];
const N = Number(a.trials || 40);
const head = await rpc.call('eth_getBlockByNumber', ['latest', false]);
const H = head.number, T = parseInt(head.timestamp, 16) + BLOCK_SECONDS;

// Targeted first: on a paused reserve nothing may pass (a repay there was once quoted
// with the whole debt as its max_amount). Up to 6 accounts owing or supplying a paused reserve
// get a repay and a withdraw of one unit; then the random trials.
const paused = [];
for (const r of m.reserves) if ((await get(`/v1/markets/${chain}/reserves/${r.asset}`)).data.flags.paused) paused.push(r);
const targeted = [];
for (const u of users) {
  if (targeted.length >= 12 || !paused.length) break;
  const acc = await get(`/v1/accounts/${chain}/${u}`);
  for (const p of acc.positions) {
    const r = paused.find((x) => x.asset.toLowerCase() === p.asset.toLowerCase());
    if (!r) continue;
    if (BigInt(p.scaled_borrowed) > 0n) targeted.push({ user: u, type: 'repay', asset: r.symbol, amount: rng.chance(0.5) ? 'max' : '1' });
    if (BigInt(p.scaled_supplied) > 0n) targeted.push({ user: u, type: 'withdraw', asset: r.symbol, amount: '1' });
  }
}

for (let i = 0; i < N + targeted.length; i++) {
  const user = i < targeted.length ? targeted[i].user : users[rng.int(0, users.length - 1)];
  const acc = await get(`/v1/accounts/${chain}/${user}`);
  if (acc.as_of.block_number !== parseInt(H, 16)) throw new Error(`sparkd serves block ${acc.as_of.block_number}, the chain is at ${parseInt(H, 16)}`);
  const held = acc.positions.filter((p) => BigInt(p.scaled_supplied) > 0n);
  const owed = acc.positions.filter((p) => BigInt(p.scaled_borrowed) > 0n);
  const sym = (p) => byAsset[p.asset.toLowerCase()].symbol;
  const roll = rng.next();
  const frac = (x, lo, hi) => (BigInt(x) * BigInt(rng.int(lo, hi))) / 100n;
  let act;
  if (i < targeted.length) {
    act = { ...targeted[i] };
    delete act.user;
  } else if (roll < 0.2) {
    const r = rng.pick(m.reserves);
    act = { type: 'supply', asset: r.symbol, amount: String(10n ** BigInt(r.decimals) * BigInt(rng.int(1, 50))) };
  } else if (roll < 0.4 && held.length) {
    const p = rng.pick(held);
    act = { type: 'withdraw', asset: sym(p), amount: rng.chance(0.3) ? 'max' : String(frac(p.supplied, 10, 130)) };
  } else if (roll < 0.65) {
    const r = rng.pick(m.reserves);
    const avail = BigInt(acc.available_borrows_base);
    const amt = (avail * BigInt(rng.int(20, 130)) * 10n ** BigInt(r.decimals)) / (100n * BigInt(r.price) || 1n);
    act = { type: 'borrow', asset: r.symbol, amount: rng.chance(0.25) ? 'max' : String(amt > 0n ? amt : 1n) };
  } else if (roll < 0.8 && owed.length) {
    const p = rng.pick(owed);
    act = { type: 'repay', asset: sym(p), amount: rng.chance(0.4) ? 'max' : String(frac(p.borrowed, 10, 90) + 1n) };
  } else if (roll < 0.9 && held.length) {
    const p = rng.pick(held);
    act = { type: 'set_collateral', asset: sym(p), enabled: !p.collateral };
  } else {
    act = { type: 'set_emode', category: rng.pick([0, 1, 2].filter((c) => c !== acc.emode_category)) };
  }
  act.user = user;
  const { user: _u, ...qa } = act;
  const q = await quote({ chain, account: user, actions: [qa], at: T });
  trials++;
  const step = q.steps[0];
  const where = `${user} ${JSON.stringify(qa)}`;
  // The amount sent: the quote's resolved one, except "max" repay, which is the chain's own max
  // (the whole debt). A "max" withdraw is the largest amount that passes, not the chain's
  // type(uint256).max (everything).
  let amount = 0n;
  if (act.amount !== undefined) {
    if (act.amount === 'max' && act.type === 'repay') amount = MAX_UINT;
    else if (act.amount === 'max') amount = step && step.amount !== undefined && step.amount !== null ? BigInt(step.amount) : 0n;
    else amount = BigInt(act.amount);
  }
  // A failing "max" resolved to nothing: send the chain's nearest request (withdraw everything,
  // or one unit), which must fail the same way.
  if (act.amount === 'max' && !q.ok && act.type === 'withdraw') amount = MAX_UINT;
  if (act.amount === 'max' && !q.ok && (act.type === 'supply' || act.type === 'borrow') && amount === 0n) amount = 1n;
  const data = act.type === 'set_emode' || act.type === 'set_collateral' ? txData(act) : txData(act, amount);
  const sim = await simulate(user, data, H, T);
  if (q.ok !== sim.ok || (!q.ok && String(q.failure.error_code) !== sim.code)) {
    // The known divergence of compare.mjs --known-empty-emode: an account without positions is
    // served eMode 0 whatever eMode it chose, so its quotes are evaluated outside that eMode.
    const [chainEmode] = await rpc.view(m.pool, POOL, 'getUserEMode', [user], H);
    if (acc.positions.length === 0 && Number(chainEmode) !== acc.emode_category) {
      known.push(`${where}: quote ${q.ok ? 'passes' : q.failure.error}, chain ${sim.ok ? 'passes' : `${sim.code} ${errName[sim.code] || ''}`} (no positions; chain eMode ${chainEmode}, served ${acc.emode_category})`);
      continue;
    }
  }
  if (q.ok !== sim.ok) {
    problems.push(`${where}: quote ${q.ok ? 'passes' : `fails ${q.failure.error} (${q.failure.error_code})`}, chain ${sim.ok ? 'passes' : `reverts ${sim.code} ${errName[sim.code] || ''}`}`);
    continue;
  }
  if (!q.ok) {
    fails++;
    if (String(q.failure.error_code) !== sim.code) problems.push(`${where}: quote error ${q.failure.error} (${q.failure.error_code}), chain ${sim.code} ${errName[sim.code] || ''}`);
    else if (errName[sim.code] && errName[sim.code] !== q.failure.error) problems.push(`${where}: quote error name ${q.failure.error}, Errors.sol calls ${sim.code} ${errName[sim.code]}`);
    const mx = q.failure.max_amount !== undefined && q.failure.max_amount !== null ? BigInt(q.failure.max_amount) : 0n;
    if (mx > 0n && act.amount !== undefined) {
      maxChecks++;
      const okMax = await simulate(user, txData(act, mx), H, T);
      const okMore = await simulate(user, txData(act, mx + 1n), H, T);
      if (!okMax.ok) problems.push(`${where}: max_amount ${mx} reverts on chain (${okMax.code} ${errName[okMax.code] || ''})`);
      if (okMore.ok) problems.push(`${where}: max_amount ${mx} + 1 passes on chain`);
    }
    continue;
  }
  passes++;
  // Passing: execute for real in block H+1 at T, compare the account, then put the chain back.
  const snap = await rpc.call('evm_snapshot');
  try {
    await rpc.call('evm_setNextBlockTimestamp', [T]);
    const hash = await rpc.call('eth_sendTransaction', [{ from: user, to: m.pool, data, gas: '0x7a1200', ...FEES }]);
    const rc = await rpc.receipt(hash);
    if (rc.status !== '0x1') problems.push(`${where}: eth_call passed but the transaction reverted`);
    const [col, debt, avail, lt, ltv, hf] = await rpc.view(m.pool, POOL, 'getUserAccountData', [user]);
    const s = step.account;
    const cmp = [['total_collateral_base', s.total_collateral_base, col], ['total_debt_base', s.total_debt_base, debt],
      ['available_borrows_base', s.available_borrows_base, avail], ['current_liquidation_threshold_bps', s.current_liquidation_threshold_bps, lt],
      ['current_ltv_bps', s.current_ltv_bps, ltv], ['health_factor_wad', s.health_factor_wad ?? MAX_UINT, hf]];
    for (const [k, x, y] of cmp) if (String(x) !== String(y)) problems.push(`${where}: after the action ${k}: quote ${x} chain ${y}`);
  } finally {
    await rpc.call('evm_revert', [snap]);
  }
}
for (const x of known) console.error(`KNOWN DIVERGENCE: ${x}`);
for (const x of problems) console.error(x);
console.log(`quotes: ${trials} actions (${targeted.length} on paused reserves, ${passes} pass, ${fails} fail on both sides), ${maxChecks} max_amount checks, ${problems.length} problems, ${known.length} known divergences`);
process.exit(problems.length ? 1 : 0);
