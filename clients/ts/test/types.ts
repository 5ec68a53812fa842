// Compile-time checks of the client's types (tsc only; never run): what the document allows
// compiles, and each line marked @ts-expect-error must fail to (tsc fails on an unused one).
import { createClient, type Schemas } from "../src/index.js";

const api = createClient({ baseUrl: "http://127.0.0.1:8080" });

export async function compiles(): Promise<void> {
  const h = await api.GET("/healthz");
  if (h.ok) {
    const status: "ok" = h.data.status;
    void status;
  }
  const r = await api.GET("/v1/markets/{chain}/reserves/{asset}", { params: { path: { chain: "1", asset: "WETH" } } });
  if (r.ok) {
    const symbol: string = r.data.data.symbol;
    void symbol;
  } else {
    const code: Schemas["ErrorCode"] = r.error.code;
    void code;
  }
  const a = await api.GET("/v1/accounts/{chain}", { params: { path: { chain: 1 }, query: { limit: 5 } } });
  if (a.ok) void a.data.next_cursor;
  const q = await api.POST("/v1/quotes", { body: { chain: 1, actions: [] } });
  if (q.ok) {
    const ok: boolean = q.data.ok;
    void ok;
  }
}

export async function refused(): Promise<void> {
  // @ts-expect-error: no such path
  await api.GET("/v1/nowhere");
  // @ts-expect-error: the path parameters are required
  await api.GET("/v1/markets/{chain}/reserves");
  // @ts-expect-error: an account's chain is a number
  await api.GET("/v1/accounts/{chain}", { params: { path: { chain: "one" } } });
  // @ts-expect-error: /v1/chains has no POST
  await api.POST("/v1/chains");
  // @ts-expect-error: a quote needs its body
  await api.POST("/v1/quotes");
  // @ts-expect-error: actions is required in a quote
  await api.POST("/v1/quotes", { body: { chain: 1 } });
  // @ts-expect-error: an unknown query parameter
  await api.GET("/v1/accounts/{chain}", { params: { path: { chain: 1 }, query: { limt: 5 } } });
  const r = await api.GET("/v1/chains");
  // @ts-expect-error: data exists only once ok is checked
  void r.data;
  if (r.ok) {
    // @ts-expect-error: no such member of a chain
    void r.data.data[0]?.chain;
  }
}
