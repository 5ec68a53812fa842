#!/usr/bin/env node
// One JSON-RPC call, result printed as JSON (for tests: evm_snapshot, evm_revert, eth_blockNumber).
//   node tests/chain/rpc.mjs --rpc URL --method evm_snapshot [--params '[...]'] [--out FILE]
import { writeFileSync } from 'node:fs';
import { args, Rpc } from './lib.mjs';

const a = args();
const r = await new Rpc(a.rpc).call(a.method, a.params ? JSON.parse(a.params) : []);
const s = JSON.stringify(r);
if (a.out) writeFileSync(a.out, s + '\n');
console.log(s);
