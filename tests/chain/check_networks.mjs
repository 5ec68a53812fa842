#!/usr/bin/env node
// Checks sparkd.network/1 files (format: docs/network-file.md):
// known fields only, types, every address 0x + 40 hex with a valid EIP-55 checksum (ethers
// getAddress; all-lowercase is refused too: a real file is copied from the registry verbatim),
// rate-limit keys 0x + 64 hex, psm3 vaults (only they) name an ssr_oracle, liquidity-layer venues
// (a kind the indexer reads, a unique id and address, an asset, a label, apr_source, amount and
// apr_window_blocks only where they apply; a curve venue's asset is its pool and it lists 2 to 8
// distinct coins, each a checksummed address), and — unless --test — a `source` on every real address.
//   node tests/chain/check_networks.mjs [--test] FILE...     exit 1 listing every problem
//   node tests/chain/check_networks.mjs --self-test          the checker refuses broken files
//   node tests/chain/check_networks.mjs --shipped            deploy/networks/*.json, and that the
//                                                            six shipped networks are all there
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { getAddress } from 'ethers';
import { ROOT } from './lib.mjs';

const KINDS = new Set(['sdai', 'susds', 'spark_vault_v2', 'psm3']);
const VENUE_KINDS = new Set(['sparklend', 'aave', 'erc4626', 'curve']);

export function check(doc, { test = false } = {}) {
  const errs = [];
  const err = (p, m) => errs.push(`${p}: ${m}`);
  const fields = (obj, p, allowed) => {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return err(p, 'must be an object'), false;
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) err(`${p}.${k}`, 'unknown field');
    return true;
  };
  const addr = (obj, p, k, required = true) => {
    const v = obj[k];
    if (v === undefined) return required ? err(`${p}.${k}`, 'missing') : undefined;
    if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(v)) return err(`${p}.${k}`, 'not 0x + 40 hex digits');
    let good;
    try {
      good = getAddress(v);
    } catch {
      return err(`${p}.${k}`, `bad EIP-55 checksum (${v})`);
    }
    if (!test && good !== v) err(`${p}.${k}`, `not in EIP-55 form (expected ${good})`);
  };
  const source = (obj, p) => {
    if (obj.source === undefined) {
      if (!test) err(`${p}.source`, 'missing (every real address names where it was taken from)');
    } else if (typeof obj.source !== 'string' || obj.source.length < 10) err(`${p}.source`, 'must name the registry file and constant');
  };
  const uint = (obj, p, k) => {
    if (!Number.isSafeInteger(obj[k]) || obj[k] < 0) err(`${p}.${k}`, 'must be a non-negative integer');
  };

  if (!fields(doc, '$', ['format', 'name', 'chain_id', 'start_block', 'sparklend', 'savings_vaults', 'liquidity_layer', 'kill_switch'])) return errs;
  if (doc.format !== 'sparkd.network/1') err('$.format', 'must be "sparkd.network/1"');
  if (typeof doc.name !== 'string' || !doc.name) err('$.name', 'must be a non-empty string');
  uint(doc, '$', 'chain_id');
  if (doc.chain_id === 0) err('$.chain_id', 'must be at least 1');
  uint(doc, '$', 'start_block');
  if (doc.sparklend !== undefined && fields(doc.sparklend, '$.sparklend', ['pool_addresses_provider', 'source'])) {
    addr(doc.sparklend, '$.sparklend', 'pool_addresses_provider');
    source(doc.sparklend, '$.sparklend');
  }
  if (doc.savings_vaults !== undefined) {
    if (!Array.isArray(doc.savings_vaults)) err('$.savings_vaults', 'must be an array');
    else doc.savings_vaults.forEach((v, i) => {
      const p = `$.savings_vaults[${i}]`;
      if (!fields(v, p, ['kind', 'address', 'source', 'ssr_oracle'])) return;
      if (!KINDS.has(v.kind)) err(`${p}.kind`, `must be one of ${[...KINDS].join(', ')}`);
      addr(v, p, 'address');
      source(v, p);
      if (v.kind === 'psm3') addr(v, p, 'ssr_oracle');
      else if (v.ssr_oracle !== undefined) err(`${p}.ssr_oracle`, 'only a psm3 vault has an SSR oracle');
    });
  }
  if (doc.liquidity_layer !== undefined) {
    const ll = doc.liquidity_layer;
    if (fields(ll, '$.liquidity_layer', ['alm_proxy', 'rate_limits', 'source', 'keys', 'venues'])) {
      addr(ll, '$.liquidity_layer', 'alm_proxy');
      addr(ll, '$.liquidity_layer', 'rate_limits');
      source(ll, '$.liquidity_layer');
      if (ll.keys !== undefined && !Array.isArray(ll.keys)) err('$.liquidity_layer.keys', 'must be an array');
      (Array.isArray(ll.keys) ? ll.keys : []).forEach((k, i) => {
        const p = `$.liquidity_layer.keys[${i}]`;
        if (!fields(k, p, ['key', 'name', 'asset', 'target'])) return;
        if (typeof k.key !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(k.key)) err(`${p}.key`, 'not 0x + 64 hex digits');
        if (typeof k.name !== 'string' || !k.name) err(`${p}.name`, 'must be a non-empty string');
        addr(k, p, 'asset', false);
        addr(k, p, 'target', false);
      });
      const seen = new Set();
      for (const k of Array.isArray(ll.keys) ? ll.keys : []) {
        if (seen.has(String(k.key).toLowerCase())) err('$.liquidity_layer.keys', `duplicate key ${k.key}`);
        seen.add(String(k.key).toLowerCase());
      }
      if (ll.venues !== undefined && !Array.isArray(ll.venues)) err('$.liquidity_layer.venues', 'must be an array');
      const ids = new Set(), addrs = new Set();
      (Array.isArray(ll.venues) ? ll.venues : []).forEach((v, i) => {
        const p = `$.liquidity_layer.venues[${i}]`;
        if (!fields(v, p, ['id', 'kind', 'address', 'asset', 'label', 'source', 'apr_source', 'amount', 'coins', 'apr_window_blocks'])) return;
        if (typeof v.id !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(v.id)) err(`${p}.id`, 'must be 1 to 64 of A-Z a-z 0-9 . _ : -');
        else if (ids.has(v.id)) err(`${p}.id`, `duplicate id ${v.id}`);
        ids.add(v.id);
        if (!VENUE_KINDS.has(v.kind)) err(`${p}.kind`, `must be one of ${[...VENUE_KINDS].join(', ')}`);
        addr(v, p, 'address');
        addr(v, p, 'asset');
        if (addrs.has(String(v.address).toLowerCase())) err(`${p}.address`, `duplicate address ${v.address}`);
        addrs.add(String(v.address).toLowerCase());
        if (typeof v.label !== 'string' || !v.label) err(`${p}.label`, 'must be a non-empty string');
        source(v, p);
        if (v.apr_source !== undefined && (v.kind !== 'erc4626' || !['share_price', 'ssr', 'vsr'].includes(v.apr_source)))
          err(`${p}.apr_source`, 'share_price, ssr or vsr, on an erc4626 venue only');
        const windowed = v.kind === 'curve' || (v.kind === 'erc4626' && (v.apr_source ?? 'share_price') === 'share_price');
        if (v.apr_window_blocks !== undefined && (!windowed ||
            !Number.isSafeInteger(v.apr_window_blocks) || v.apr_window_blocks < 1 || v.apr_window_blocks > 1000000))
          err(`${p}.apr_window_blocks`, '1 to 1000000, on a curve venue or an erc4626 venue whose apr_source is share_price only');
        if (v.amount !== undefined && (v.kind !== 'erc4626' || !['assets', 'exit_assets'].includes(v.amount)))
          err(`${p}.amount`, 'assets or exit_assets, on an erc4626 venue only');
        if (v.kind === 'curve') {
          if (String(v.asset).toLowerCase() !== String(v.address).toLowerCase()) err(`${p}.asset`, 'a curve venue\'s asset is its pool (the LP token)');
          if (!Array.isArray(v.coins) || v.coins.length < 2 || v.coins.length > 8) err(`${p}.coins`, 'must list 2 to 8 coins');
          else {
            v.coins.forEach((_, j) => addr(v.coins, `${p}.coins`, j));
            if (new Set(v.coins.map((c) => String(c).toLowerCase())).size !== v.coins.length) err(`${p}.coins`, 'a coin twice');
          }
        } else if (v.coins !== undefined) err(`${p}.coins`, 'only a curve venue has coins');
      });
    }
  }
  if (doc.kill_switch !== undefined && fields(doc.kill_switch, '$.kill_switch', ['address', 'source'])) {
    addr(doc.kill_switch, '$.kill_switch', 'address');
    source(doc.kill_switch, '$.kill_switch');
  }
  if (doc.sparklend === undefined && doc.savings_vaults === undefined && doc.liquidity_layer === undefined)
    err('$', 'names no contract (sparklend, savings_vaults or liquidity_layer)');
  return errs;
}

function selfTest() {
  const good = JSON.parse(readFileSync(path.join(ROOT, 'deploy/networks/ethereum.json'), 'utf8'));
  const cases = [
    ['unknown top field', (d) => (d.extra = 1)],
    ['wrong format', (d) => (d.format = 'sparkd.network/2')],
    ['bad checksum', (d) => (d.sparklend.pool_addresses_provider = d.sparklend.pool_addresses_provider.replace('C', 'c'))],
    ['lowercase address', (d) => (d.kill_switch.address = d.kill_switch.address.toLowerCase())],
    ['short address', (d) => (d.savings_vaults[0].address = '0x1234')],
    ['missing source', (d) => delete d.savings_vaults[1].source],
    ['bad kind', (d) => (d.savings_vaults[0].kind = 'pot')],
    ['ssr_oracle on sdai', (d) => (d.savings_vaults[0].ssr_oracle = d.kill_switch.address)],
    ['short key', (d) => (d.liquidity_layer.keys[0].key = '0x12')],
    ['duplicate key', (d) => d.liquidity_layer.keys.push({ ...d.liquidity_layer.keys[0] })],
    ['unknown key field', (d) => (d.liquidity_layer.keys[0].slope = 1)],
    ['negative start_block', (d) => (d.start_block = -1)],
    ['chain_id string', (d) => (d.chain_id = '1')],
    ['venue kind not read', (d) => (d.liquidity_layer.venues[0].kind = 'spark_vault')],
    ['venue without source', (d) => delete d.liquidity_layer.venues[1].source],
    ['duplicate venue id', (d) => (d.liquidity_layer.venues[1].id = d.liquidity_layer.venues[0].id)],
    ['duplicate venue address', (d) => (d.liquidity_layer.venues[1].address = d.liquidity_layer.venues[0].address)],
    ['venue id with a space', (d) => (d.liquidity_layer.venues[0].id = 'a b')],
    ['venue lowercase asset', (d) => (d.liquidity_layer.venues[0].asset = d.liquidity_layer.venues[0].asset.toLowerCase())],
    ['apr_source on an aToken', (d) => (d.liquidity_layer.venues[0].apr_source = 'ssr')],
    ['apr window on an ssr vault', (d) => (d.liquidity_layer.venues.find((v) => v.apr_source === 'ssr').apr_window_blocks = 10)],
    ['venue without label', (d) => delete d.liquidity_layer.venues[0].label],
    ['amount on an aToken', (d) => (d.liquidity_layer.venues[0].amount = 'exit_assets')],
    ['unknown amount', (d) => (d.liquidity_layer.venues.find((v) => v.amount).amount = 'max_withdraw')],
    ['curve without coins', (d) => delete d.liquidity_layer.venues.find((v) => v.kind === 'curve').coins],
    ['curve with one coin', (d) => d.liquidity_layer.venues.find((v) => v.kind === 'curve').coins.pop()],
    ['curve coin lowercase', (d) => { const v = d.liquidity_layer.venues.find((x) => x.kind === 'curve'); v.coins[0] = v.coins[0].toLowerCase(); }],
    ['curve coin twice', (d) => { const v = d.liquidity_layer.venues.find((x) => x.kind === 'curve'); v.coins[1] = v.coins[0]; }],
    ['curve asset not its pool', (d) => { const v = d.liquidity_layer.venues.find((x) => x.kind === 'curve'); v.asset = v.coins[0]; }],
    ['coins on an aToken', (d) => (d.liquidity_layer.venues[0].coins = [d.kill_switch.address, d.sparklend.pool_addresses_provider])],
  ];
  let bad = 0;
  if (check(good).length) {
    console.error('self-test: ethereum.json should pass:', check(good));
    bad++;
  }
  for (const [name, f] of cases) {
    const d = structuredClone(good);
    f(d);
    const e = check(d);
    if (!e.length) {
      console.error(`self-test: "${name}" was accepted`);
      bad++;
    }
  }
  const psm = { format: 'sparkd.network/1', name: 'x', chain_id: 8453, start_block: 0,
    savings_vaults: [{ kind: 'psm3', address: good.kill_switch.address, source: 'registry file CONSTANT' }] };
  if (!check(psm).length) console.error('self-test: psm3 without ssr_oracle accepted'), bad++;
  console.log(`self-test: ${cases.length + 2} cases, ${bad} wrong`);
  return bad === 0;
}

function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--self-test')) process.exit(selfTest() ? 0 : 1);
  const test = argv.includes('--test');
  let files = argv.filter((a) => !a.startsWith('--'));
  let ok = true;
  if (argv.includes('--shipped')) {
    const dir = path.join(ROOT, 'deploy/networks');
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f));
    const want = { ethereum: 1, gnosis: 100, base: 8453, arbitrum: 42161, optimism: 10, unichain: 130 };
    for (const [n, id] of Object.entries(want)) {
      const f = path.join(dir, `${n}.json`);
      if (!files.includes(f)) console.error(`${f}: missing`), (ok = false);
      else if (JSON.parse(readFileSync(f, 'utf8')).chain_id !== id) console.error(`${f}: chain_id is not ${id}`), (ok = false);
    }
  }
  if (!files.length) throw new Error('no files (see the top of this file)');
  for (const f of files) {
    let doc;
    try {
      doc = JSON.parse(readFileSync(f, 'utf8'));
    } catch (e) {
      console.error(`${f}: ${e.message}`);
      ok = false;
      continue;
    }
    const errs = check(doc, { test });
    for (const e of errs) console.error(`${f}: ${e}`);
    if (errs.length) ok = false;
    else console.log(`${f}: ok`);
  }
  process.exit(ok ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
