#!/usr/bin/env node
// Follow-mode latency for bench/index.sh: mines a block on anvil (evm_mine) and times until
// sparkd serves it (GET /v1/chains shows its block number), ROUNDS times; prints the times in ms.
//   node bench/index_follow.mjs RPC_URL SERVE_URL CHAIN_ID ROUNDS
const [rpcUrl, serveUrl, chainId, rounds] = process.argv.slice(2);
const rpc = async (method, params = []) => {
  const r = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const j = await r.json();
  if (j.error) throw new Error(`${method}: ${j.error.message}`);
  return j.result;
};
const served = async () => {
  const r = await fetch(`${serveUrl}/v1/chains`);
  if (r.status !== 200) return -1;
  const j = await r.json();
  const c = (j.chains || j.data || j).find?.((x) => String(x.chain_id) === String(chainId));
  return c ? Number(c.block_number ?? c.block?.number ?? -1) : -1;
};
const times = [];
for (let i = 0; i < Number(rounds); i++) {
  await rpc('evm_mine');
  const t0 = performance.now();
  const head = Number(BigInt(await rpc('eth_blockNumber')));
  for (;;) {
    if ((await served()) >= head) break;
    if (performance.now() - t0 > 30000) throw new Error(`block ${head} not served after 30 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
  times.push(performance.now() - t0);
  await new Promise((r) => setTimeout(r, 200));
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(0);
console.log(`follow: ${times.length} new heads, head-to-served ms: min ${times[0].toFixed(0)} median ${q(0.5)} p90 ${q(0.9)} max ${times[times.length - 1].toFixed(0)}`);
