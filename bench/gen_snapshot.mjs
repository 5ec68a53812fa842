// Writes one sparkd.snapshot/1 line with N synthetic accounts to stdout: the reserves, prices,
// vaults and liquidity layer of tests/fixtures/snapshot_basic.json, accounts replaced.
//   node bench/gen_snapshot.mjs 100000 [block] > snap.ndjson
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const n = Number(process.argv[2] ?? 100000);
const here = dirname(fileURLToPath(import.meta.url));
const snap = JSON.parse(readFileSync(join(here, '..', 'tests', 'fixtures', 'snapshot_basic.json'), 'utf8'));
if (process.argv[3]) snap.block.number = Number(process.argv[3]);
const [dai, usdc, weth, wst] = snap.reserves.map((r) => r.asset);
let s = 0x9e3779b9 >>> 0;
const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
const amount = (lo, hi) => (BigInt(lo + (rnd() % (hi - lo))) * 10n ** 15n).toString();
const accounts = [];
for (let i = 0; i < n; i++) {
  const address = '0x' + (i + 1).toString(16).padStart(40, '0');
  const kind = i % 4;
  let positions;
  if (kind === 0) positions = [
    { asset: weth, scaled_a_token_balance: amount(1000, 100000), scaled_variable_debt: '0', collateral: true },
    { asset: dai, scaled_a_token_balance: '0', scaled_variable_debt: amount(100000, 1500000), collateral: false }];
  else if (kind === 1) positions = [
    { asset: wst, scaled_a_token_balance: amount(10000, 200000), scaled_variable_debt: '0', collateral: true },
    { asset: weth, scaled_a_token_balance: '0', scaled_variable_debt: amount(5000, 150000), collateral: false }];
  else if (kind === 2) positions = [
    { asset: usdc, scaled_a_token_balance: String(1000000 + (rnd() % 1000000000)), scaled_variable_debt: '0', collateral: false }];
  else positions = [
    { asset: weth, scaled_a_token_balance: amount(1000, 50000), scaled_variable_debt: '0', collateral: true },
    { asset: wst, scaled_a_token_balance: amount(1000, 50000), scaled_variable_debt: '0', collateral: true },
    { asset: usdc, scaled_a_token_balance: '0', scaled_variable_debt: String(1000000 + (rnd() % 10000000000)), collateral: false }];
  accounts.push({ address, emode_category: kind === 1 ? 1 : 0, positions });
}
snap.accounts_mode = 'full';
snap.accounts = accounts;
process.stdout.write(JSON.stringify(snap) + '\n');
