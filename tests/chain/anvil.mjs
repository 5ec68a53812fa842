#!/usr/bin/env node
// Starts anvil for the chain fixture on a free 127.0.0.1 port (pruned history, fixed genesis
// time, 12 s per block, --auto-impersonate) and prints `RPC_URL=…` and `ANVIL_PID=…` on stdout,
// then stays in the foreground until SIGTERM/SIGINT, stdin closing, or --lifetime SECONDS
// (default 600) — anvil never outlives this process.
//   node tests/chain/anvil.mjs [--lifetime 300] [--keep 4096]
import { args, startAnvil } from './lib.mjs';

const a = args();
const life = Number(a.lifetime || 600);
const node = await startAnvil({ keep: Number(a.keep || 4096), maxSeconds: life + 60 });
console.log(`RPC_URL=${node.url}`);
console.log(`ANVIL_PID=${node.proc.pid}`);
const stop = () => node.stop().then(() => process.exit(0));
const timer = setTimeout(stop, life * 1000);
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, stop);
process.stdin.on('end', () => { clearTimeout(timer); stop(); });
process.stdin.resume();
node.proc.on('exit', () => process.exit(1));
