#!/usr/bin/env node
// Liquidation prices against the chain: for every served position with a `liquidation_price`
// P (GET /v1/accounts/{chain}/{address}), the Pool's own getUserAccountData is evaluated at the
// served block with that collateral's price feed answer overridden (eth_call state override of
// the feed's storage slot 0, which holds latestAnswer in the fixture's SettableAggregator):
//   - the documented definition (openapi: "the smallest 8-decimal price of that asset,
//     everything else fixed, at which the health factor is at least 1 (at one unit below it is
//     under 1)"): HF(P) >= 1 and HF(P - 1) < 1;
//   - --crossing (the first crossing from the current price): for a safe account, P is the highest price at or below
//     the current one with HF(P) >= 1 and HF(P - 1) < 1 — so also no crossing in (P, current]
//     may be missed: HF stays >= 1 at every price sampled between P and the current price; for an
//     account below 1, P is the first price above the current one where it becomes safe: HF
//     stays < 1 at every price sampled between the current price and P. drive.mjs --sawtooth
//     makes accounts whose HF is a sawtooth in DAI's price, where a later crossing would show.
// Prints each disagreement; exit 1 when there is one.
//   node tests/chain/liqprice.mjs --rpc URL --addresses A.json --sparkd URL [--chain 31337]
//        [--crossing] [--samples 64]
import { readFileSync } from 'node:fs';
import { toBeHex, zeroPadValue } from 'ethers';
import { args, iface, Rpc } from './lib.mjs';

const a = args();
const chain = a.chain || '31337';
const m = JSON.parse(readFileSync(a.addresses, 'utf8'));
const rpc = new Rpc(a.rpc);
const POOL = iface('Pool');
const WAD = 10n ** 18n;
const bySym = Object.fromEntries(m.reserves.map((r) => [r.asset.toLowerCase(), r]));
const SLOT0 = '0x' + '0'.repeat(64);

async function get(path) {
  const r = await fetch(a.sparkd + path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

// HF of `user` at block `tag` with feed `agg` answering `price` (8 decimals).
async function hfAt(user, agg, price, tag) {
  const data = POOL.encodeFunctionData('getUserAccountData', [user]);
  const ov = { [agg]: { stateDiff: { [SLOT0]: zeroPadValue(toBeHex(price), 32) } } };
  const res = await rpc.call('eth_call', [{ to: m.pool, data }, tag, ov]);
  return POOL.decodeFunctionResult('getUserAccountData', res)[5];
}

const problems = [];
let checked = 0;
const users = [...new Set([...(m.users || []), m.liquidator])];
for (const u of users) {
  const acc = await get(`/v1/accounts/${chain}/${u}`);
  const tag = '0x' + acc.as_of.block_number.toString(16);
  for (const p of acc.positions) {
    const r = bySym[p.asset.toLowerCase()];
    const cur = BigInt(p.price);
    if (p.liquidation_price === null || p.liquidation_price === undefined) {
      // null: no crossing. For a counted collateral of an account with debt that is safe now, the
      // chain must then keep it safe down to the lowest price, 1 (a price of 0 is no price on
      // chain: AaveOracle falls back to its fallback oracle, none here).
      if (acc.health_factor_wad === null || !p.collateral || BigInt(p.supplied) === 0n) continue;
      checked++;
      const now = await hfAt(u, r.aggregator, cur, tag);
      if (now < WAD) continue; /* below 1 at the current price and never safe: nothing to serve */
      const lowest = await hfAt(u, r.aggregator, 1n, tag);
      if (lowest < WAD)
        problems.push(`${u} ${r.symbol} liquidation_price null (current ${cur}): chain HF at price 1 is ${lowest} < 1, so there is a crossing`);
      continue;
    }
    const P = BigInt(p.liquidation_price);
    checked++;
    if (P === 0n) {
      problems.push(`${u} ${r.symbol} liquidation_price 0: the document says a position safe at any price is served null`);
      continue;
    }
    const at = await hfAt(u, r.aggregator, P, tag);
    const below = P > 1n ? await hfAt(u, r.aggregator, P - 1n, tag) : 0n;
    const where = `${u} ${r.symbol} liquidation_price ${P} (current ${cur}, served HF ${acc.health_factor_wad})`;
    if (at < WAD) problems.push(`${where}: chain HF at P is ${at} < 1`);
    if (below >= WAD) problems.push(`${where}: chain HF at P-1 is ${below} >= 1 (not a crossing)`);
    if (a.crossing) {
      const hfNow = await hfAt(u, r.aggregator, cur, tag);
      const samples = BigInt(a.samples || 64);
      if (hfNow >= WAD) {
        if (P > cur) problems.push(`${where}: a safe account is served a liquidation price above the current price`);
        else {
          // Between P and the current price the HF must never dip under 1 (else a crossing nearer
          // to the current price was missed).
          for (let k = 1n; k < samples; k++) {
            const x = P + ((cur - P) * k) / samples;
            const h = await hfAt(u, r.aggregator, x, tag);
            if (h < WAD) {
              problems.push(`${where}: at ${x}, between P and the current price, chain HF is ${h} < 1 (a nearer crossing)`);
              break;
            }
          }
        }
      } else if (P <= cur) {
        problems.push(`${where}: an account below 1 is served a liquidation price at or under the current price`);
      } else {
        // Between the current price and P the HF must stay under 1 (else an earlier price at
        // which the account becomes safe was missed: a later crossing of a sawtooth).
        for (let k = 1n; k < samples; k++) {
          const x = cur + ((P - cur) * k) / samples;
          if (x >= P) break;
          const h = await hfAt(u, r.aggregator, x, tag);
          if (h >= WAD) {
            problems.push(`${where}: at ${x}, between the current price and P, chain HF is ${h} >= 1 (an earlier crossing)`);
            break;
          }
        }
      }
    }
  }
}
for (const x of problems) console.error(x);
console.log(`liqprice: ${users.length} accounts, ${checked} liquidation prices checked, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
