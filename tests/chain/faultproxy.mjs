#!/usr/bin/env node
// A misbehaving JSON-RPC node: an HTTP proxy on a free 127.0.0.1 port in front of anvil that,
// driven by a seeded PRNG (the n-th request always gets the same treatment for a seed), drops
// connections, delays answers, answers 429 and 503, garbles the JSON, and answers a batch with a
// result array of the wrong size. The rest is forwarded untouched.
// Two node configurations can be imitated besides: --max-batch N refuses every batch of more than
// N calls (alternately with HTTP 413 and with geth's JSON-RPC answer, an array holding one error
// -32600 "batch too large"), and --status CODE answers every request with that HTTP status (a
// wrong API key: 401/403, a wrong path: 404). --error-call SIG --error-times N answers the first N
// eth_calls whose data starts with SIG's selector (e.g. 'getAPR()') with a JSON-RPC error that is
// not a revert (-32000 "header not found", as a load-balanced node behind on its peers says), in a
// batch too: the batch's other calls are forwarded and answered as usual. With --error-kind null
// those calls are answered `"result": null` instead (a malformed answer, not an error).
//
// Usage:
//   node tests/chain/faultproxy.mjs --target http://127.0.0.1:PORT [--seed 1] [--rate 0.3]
//        [--faults drop,delay,429,503,garble,wrongsize] [--lifetime 300] [--clean-after N]
//        [--stats FILE] [--max-batch N] [--status CODE] [--error-call SIG --error-times N [--error-kind node|null]]
// Prints `PROXY_URL=http://127.0.0.1:PORT` once listening. Stops by itself after --lifetime
// seconds (default 300), on SIGTERM/SIGINT, or when stdin closes; then writes the counts
// ({requests, forwarded, faults: {drop: n, …}}) to --stats (and stderr). --clean-after N stops
// injecting faults after the N-th request (a bounded storm, so a client with retries finishes).
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { id } from 'ethers';
import { args, prng } from './lib.mjs';

const a = args();
if (!a.target) {
  console.error('need --target URL (see the top of this file)');
  process.exit(2);
}
const target = new URL(a.target);
const rng = prng(BigInt(a.seed ?? 1) * 104729n + 3n);
const rate = Number(a.rate ?? 0.3);
const faults = String(a.faults ?? 'drop,delay,429,503,garble,wrongsize').split(',');
const cleanAfter = a['clean-after'] !== undefined ? Number(a['clean-after']) : Infinity;
const maxBatch = a['max-batch'] !== undefined ? Number(a['max-batch']) : Infinity;
const fixedStatus = a.status !== undefined ? Number(a.status) : null;
const errorSelector = a['error-call'] !== undefined ? id(String(a['error-call'])).slice(0, 10) : null;
let errorsLeft = a['error-times'] !== undefined ? Number(a['error-times']) : Infinity;
const stats = { requests: 0, forwarded: 0, faults: Object.fromEntries(faults.map((f) => [f, 0])),
  refused_413: 0, refused_jsonrpc: 0, status: 0, largest_forwarded: 0, call_errors: 0 };

// Whether one JSON-RPC call is an eth_call of --error-call still to be answered with an error.
function errorFor(call) {
  if (!errorSelector || errorsLeft <= 0 || !call || call.method !== 'eth_call') return false;
  const tx = Array.isArray(call.params) ? call.params[0] : null;
  const data = String(tx?.data ?? tx?.input ?? '').toLowerCase();
  if (!data.startsWith(errorSelector)) return false;
  errorsLeft--;
  stats.call_errors++;
  return true;
}
const errorKind = String(a['error-kind'] ?? 'node');
const nodeError = (call) => (errorKind === 'null' ? { jsonrpc: '2.0', id: call.id ?? null, result: null }
  : { jsonrpc: '2.0', id: call.id ?? null, error: { code: -32000, message: 'header not found' } });

// Answers the calls errorFor picks itself and forwards the rest; null when it picks none.
async function withCallErrors(j, headers) {
  const calls = Array.isArray(j) ? j : [j];
  const picked = calls.map(errorFor);
  if (!picked.includes(true)) return null;
  const rest = calls.filter((_, i) => !picked[i]);
  let answers = [];
  if (rest.length) {
    const up = await forward(JSON.stringify(rest), headers);
    answers = JSON.parse(up.body);
  }
  const byId = new Map(answers.map((x) => [JSON.stringify(x.id), x]));
  const out = calls.map((c, i) => (picked[i] ? nodeError(c) : byId.get(JSON.stringify(c.id))));
  return JSON.stringify(Array.isArray(j) ? out : out[0]);
}

function forward(body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
      headers: { 'content-type': headers['content-type'] || 'application/json', 'content-length': Buffer.byteLength(body) } },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function reply(res, status, body, extra = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks).toString();
    const n = ++stats.requests;
    // Decide now, in arrival order, so a seed fixes the sequence of treatments.
    const fault = n <= cleanAfter && rng.chance(rate) ? rng.pick(faults) : null;
    const delayMs = rng.int(50, 1500);
    const cut = rng.next();
    if (fixedStatus !== null) {
      stats.status++;
      return reply(res, fixedStatus, JSON.stringify({ error: `status ${fixedStatus} (faultproxy --status)` }));
    }
    let calls = 1;
    let parsed = null;
    try {
      const j = JSON.parse(body);
      parsed = j;
      if (Array.isArray(j)) calls = j.length;
      if (calls > maxBatch) {
        if ((stats.refused_413 + stats.refused_jsonrpc) % 2 === 0) {
          stats.refused_413++;
          return reply(res, 413, 'Request Entity Too Large', { 'content-type': 'text/plain' });
        }
        stats.refused_jsonrpc++;
        return reply(res, 200, JSON.stringify([{ jsonrpc: '2.0', id: j[0].id ?? null,
          error: { code: -32600, message: 'batch too large' } }]));
      }
    } catch {
      // not JSON: forwarded as it is
    }
    try {
      const errored = parsed !== null ? await withCallErrors(parsed, req.headers) : null;
      if (errored !== null) return reply(res, 200, errored);
      if (fault) stats.faults[fault]++;
      switch (fault) {
        case 'drop':
          req.socket.destroy();
          return;
        case '429':
          return reply(res, 429, '{"jsonrpc":"2.0","error":{"code":-32005,"message":"rate limited"},"id":null}', { 'retry-after': '0' });
        case '503':
          return reply(res, 503, 'Service Unavailable', { 'content-type': 'text/plain' });
        case 'delay':
          await new Promise((r) => setTimeout(r, delayMs));
          break;
        default:
          break;
      }
      const up = await forward(body, req.headers);
      let out = up.body;
      if (fault === 'garble') {
        // Cut the JSON somewhere inside and append junk: never valid JSON.
        out = out.slice(0, Math.max(1, Math.floor(out.length * cut))) + '\u0000}{garbled';
      } else if (fault === 'wrongsize') {
        let j;
        try {
          j = JSON.parse(out);
        } catch {
          j = null;
        }
        if (Array.isArray(j) && j.length > 1) j.pop();
        else if (Array.isArray(j)) j.push({ ...j[0], id: 999999 });
        else if (j && typeof j === 'object') j = [j, j]; // a single call answered with an array
        out = JSON.stringify(j);
      } else {
        stats.forwarded++;
        stats.largest_forwarded = Math.max(stats.largest_forwarded, calls);
      }
      reply(res, up.status, out);
    } catch (e) {
      reply(res, 502, JSON.stringify({ error: String(e) }));
    }
  });
});

function stop() {
  server.close();
  const s = JSON.stringify(stats);
  if (a.stats) writeFileSync(a.stats, s + '\n');
  console.error(`faultproxy: ${s}`);
  process.exit(0);
}

server.listen(0, '127.0.0.1', () => {
  console.log(`PROXY_URL=http://127.0.0.1:${server.address().port}`);
});
setTimeout(stop, Number(a.lifetime ?? 300) * 1000).unref();
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, stop);
process.stdin.on('end', stop);
process.stdin.resume();
