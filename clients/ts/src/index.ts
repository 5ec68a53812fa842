// A typed client for sparkd's HTTP API. The types come from openapi/openapi.yaml through
// openapi-typescript (src/schema.ts, regenerated with `npm run generate`); this file is the small
// fetch wrapper around them: a call names a path template and its parameters, and gets back the
// documented JSON body of a success, or the API's problem+json error, both typed.
//
//   const api = createClient({ baseUrl: "https://sparkd.example", apiKey: "sk_..." });
//   const r = await api.GET("/v1/markets/{chain}/reserves", { params: { path: { chain: 1 } } });
//   if (r.ok) r.data.reserves[0].symbol; else r.error.code;
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
/** Every JSON schema of the API by name, e.g. Schemas["Reserve"]. */
export type Schemas = components["schemas"];
/** The error body every non-2xx answer carries (application/problem+json). */
export type Problem = components["schemas"]["Problem"];

export type Method = "get" | "post" | "put" | "patch" | "delete";
/** The path templates that have an operation for method M. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never;
}[keyof paths];
/** The operation of method M on path P. */
export type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

type Json<R> = R extends { content: infer C }
  ? C extends { "application/json": infer J }
    ? J
    : C extends { "application/problem+json": infer J }
      ? J
      : unknown
  : undefined;
type SuccessStatus = 200 | 201 | 202 | 204;
type Responses<O> = O extends { responses: infer R } ? R : never;
/** The JSON body of a 2xx answer to operation O. */
export type SuccessBody<O> = {
  [S in keyof Responses<O>]: S extends SuccessStatus ? Json<Responses<O>[S]> : never;
}[keyof Responses<O>];

type Params<O> = O extends { parameters: infer P } ? P : never;
type BodyOf<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? { body: B }
  : O extends { requestBody?: { content: { "application/json": infer B } } }
    ? { body?: B }
    : { body?: never };
/** What a call takes besides the path: parameters by location, the JSON body, extra headers. */
export type Init<O> = ({} extends Params<O> ? { params?: Params<O> } : { params: Params<O> }) &
  BodyOf<O> & { headers?: Record<string, string>; signal?: AbortSignal };

/** A call's outcome: the typed body of a 2xx, or the problem of any other status. */
export type Result<O> =
  | { ok: true; status: number; data: SuccessBody<O>; response: Response }
  | { ok: false; status: number; error: Problem; response: Response };

export interface ClientOptions {
  /** Where sparkd is served, e.g. "https://sparkd.example" (no trailing path needed). */
  baseUrl: string;
  /** An api key for partner and admin routes, sent as Authorization: Bearer <key>. */
  apiKey?: string;
  /** A fetch to use instead of the global one (tests, retries, tracing). */
  fetch?: typeof fetch;
  /** Headers sent with every call. */
  headers?: Record<string, string>;
}

type Call<M extends Method> = <P extends PathsWith<M>>(
  path: P,
  ...init: {} extends Init<Operation<P, M>> ? [init?: Init<Operation<P, M>>] : [init: Init<Operation<P, M>>]
) => Promise<Result<Operation<P, M>>>;

export interface Client {
  GET: Call<"get">;
  POST: Call<"post">;
  PUT: Call<"put">;
  PATCH: Call<"patch">;
  DELETE: Call<"delete">;
}

/** Returns path with each {name} replaced by its encoded parameter. */
export function fillPath(path: string, values: Record<string, unknown> | undefined): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const v = values?.[name];
    if (v === undefined || v === null) throw new Error(`sparkd client: path parameter ${name} is missing`);
    return encodeURIComponent(String(v));
  });
}

/** Returns "?a=1&b=2" for the defined members of query (arrays repeat the name), or "". */
export function queryString(query: Record<string, unknown> | undefined): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null) continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Returns a client for the sparkd at options.baseUrl. */
export function createClient(options: ClientOptions): Client {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = options.baseUrl.replace(/\/+$/, "");

  async function call(method: Method, path: string, init?: Init<unknown>): Promise<Result<unknown>> {
    const p = (init?.params ?? {}) as {
      path?: Record<string, unknown>;
      query?: Record<string, unknown>;
      header?: Record<string, unknown>;
    };
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.apiKey) headers.Authorization = `Bearer ${options.apiKey}`;
    for (const [k, v] of Object.entries(p.header ?? {})) if (v !== undefined && v !== null) headers[k] = String(v);
    Object.assign(headers, init?.headers);
    const body = (init as { body?: unknown } | undefined)?.body;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await doFetch(base + fillPath(path, p.path) + queryString(p.query), {
      method: method.toUpperCase(),
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: init?.signal,
    });
    const type = response.headers.get("Content-Type") ?? "";
    const parsed: unknown =
      response.status === 204 || response.status === 304
        ? undefined
        : /json/.test(type)
          ? await response.json()
          : await response.text();
    if (response.ok) return { ok: true, status: response.status, data: parsed as never, response };
    return { ok: false, status: response.status, error: parsed as Problem, response };
  }

  const bind =
    <M extends Method>(m: M): Call<M> =>
    (path, ...init) =>
      call(m, path as string, init[0] as Init<unknown>) as never;
  return { GET: bind("get"), POST: bind("post"), PUT: bind("put"), PATCH: bind("patch"), DELETE: bind("delete") };
}
