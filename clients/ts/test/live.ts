// Calls a running sparkd (with demo data imported) through the compiled client and checks what
// comes back against plain fetch of the same URLs and against the demo data's shape. Run by
// tests/check_api_tsclient.c:  node dist/test/live.js PORT [PARTNER_KEY]
import { createClient } from "../src/index.js";

const [port, partnerKey] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
const api = createClient({ baseUrl: base });
let failures = 0;
function check(cond: boolean, what: string): void {
  if (!cond) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}
async function raw(path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const r = await fetch(base + path, init);
  return { status: r.status, body: await r.json() };
}
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

const health = await api.GET("/healthz");
check(health.ok && health.data.status === "ok", "GET /healthz");

// the state cache is built in the background after the import
let chainId = 0;
for (let i = 0; i < 120 && !chainId; i++) {
  const chains = await api.GET("/v1/chains");
  if (chains.ok && chains.data.data.length > 0) chainId = chains.data.data[0]!.chain_id;
  else await new Promise((r) => setTimeout(r, 500));
}
check(chainId > 0, "GET /v1/chains lists the demo chain");

const reserves = await api.GET("/v1/markets/{chain}/reserves", { params: { path: { chain: String(chainId) } } });
check(reserves.ok && reserves.data.data.length > 0, "GET /v1/markets/{chain}/reserves lists reserves");
if (reserves.ok) {
  const plain = await raw(`/v1/markets/${chainId}/reserves`);
  check(plain.status === 200 && same(plain.body, reserves.data), "the client's reserves are plain fetch's");
  const first = reserves.data.data[0]!;
  const one = await api.GET("/v1/markets/{chain}/reserves/{asset}", {
    params: { path: { chain: String(chainId), asset: first.address } },
  });
  check(one.ok && one.data.data.address === first.address && one.data.data.symbol === first.symbol,
    "GET /v1/markets/{chain}/reserves/{asset} by address");
  const bySymbol = await api.GET("/v1/markets/{chain}/reserves/{asset}", {
    params: { path: { chain: String(chainId), asset: first.symbol } },
  });
  check(bySymbol.ok && bySymbol.data.data.address === first.address, "the same reserve by symbol");
}

const missing = await api.GET("/v1/markets/{chain}/reserves/{asset}", {
  params: { path: { chain: String(chainId), asset: "0x000000000000000000000000000000000000dead" } },
});
check(!missing.ok && missing.status === 404 && typeof missing.error.code === "string" && !!missing.error.request_id,
  "an unknown reserve is a typed 404 problem");

const page = await api.GET("/v1/accounts/{chain}", { params: { path: { chain: chainId }, query: { limit: 3 } } });
check(page.ok && page.data.data.length === 3 && typeof page.data.next_cursor === "string",
  "GET /v1/accounts/{chain}?limit=3 gives 3 and a cursor");
if (page.ok && page.data.next_cursor) {
  const next = await api.GET("/v1/accounts/{chain}", {
    params: { path: { chain: chainId }, query: { limit: 3, cursor: page.data.next_cursor } },
  });
  check(next.ok && next.data.data.length > 0 && next.data.data[0]!.address !== page.data.data[0]!.address,
    "the cursor (query string encoding) reaches the next page");
}

const quote = await api.POST("/v1/quotes", { body: { chain: chainId, actions: [] } });
check(quote.ok && quote.data.ok === true && quote.data.steps.length === 0, "POST /v1/quotes with no actions");
const badQuote = await api.POST("/v1/quotes", {
  body: { chain: chainId, actions: [{ type: "supply", asset: "WETH", amount: "-1" }] },
});
check(!badQuote.ok && badQuote.status === 400 && badQuote.error.code === "validation_failed" &&
  (badQuote.error.errors ?? []).some((e) => e.field === "actions[0].amount"), "a bad quote names its field");

const anonymous = await api.GET("/v1/partner/positions");
check(!anonymous.ok && anonymous.status === 401, "a partner route without a key is 401");
if (partnerKey) {
  const partner = createClient({ baseUrl: base, apiKey: partnerKey });
  const mine = await partner.GET("/v1/partner/positions");
  check(mine.ok && Array.isArray(mine.data.positions), "a partner key lists its positions");
}

if (failures) {
  console.error(`tsclient: ${failures} check(s) failed`);
  process.exit(1);
}
console.log("tsclient: every call through the compiled client answered as documented");
