#!/usr/bin/env node
// Contract test: live responses of a running sparkd checked against openapi/openapi.yaml.
//
//   node tests/contract.mjs <port> <openapi.yaml> [scope=key ...]   (partner, partner2, admin, ops)
//
// Walks every operation the document holds when it runs (nothing here lists routes):
// - GET: concrete URLs from the parameters' `example`s and from values discovered in list
//   responses (a path `/a/{x}/b/{y}` takes `{y}` from the items of GET `/a/{x}/b`, or of the
//   nearest listed ancestor); each is requested with its required query parameters, once more
//   with every documented query example, with each alone, with integer parameters at their minimum
//   and at their maximum, and with each value of an enum; a `next_cursor` is followed once; an
//   `ETag` is sent back as `If-None-Match` where 304 is documented.
// - other methods: each documented request example (or, when there is none, a body built from the
//   schema's property `example`s, checked against the request schema first), with a fresh
//   Idempotency-Key when the operation has that header. POSTs without path parameters run first
//   (they create the partner data later calls discover), DELETEs last.
// - must-fail requests per operation: an unknown path parameter value (the documented 404), a
//   malformed value (a documented 4xx), a malformed JSON body (the documented 400), a body of
//   another media type (415 when documented), a bad query value (400 when documented), a body where
//   none is accepted (413 when documented), no key and a key of another scope on keyed routes
//   (401 / 403), another partner's key on a partner record (404), and per path a method it does
//   not list (405 with an Allow naming the listed ones).
// A path value that names nothing must answer 404 only where the operation's documented 404 names
// a code for that parameter (`vault_not_found` for {vault}); elsewhere any documented status.
// Every GET must reach a 2xx at least once, every other operation with a usable example too.
// The conventions info.description states are checked on one URL per GET: HEAD (same status and
// headers, no body) and OPTIONS (204, Allow).
// Every response: its status is documented for the operation; its Content-Type is the documented
// media type; the body validates against the documented schema (Ajv, JSON Schema 2020-12, `$ref`s
// resolved inside the document), and against a copy where each object that lists its properties is
// closed, so a field the document does not describe fails too; required documented headers are
// present and valid; error bodies
// are also checked against Problem (status and request_id agree with the response).
// Prints "contract: N operations, M responses validated, K skipped (reasons)" and every failure;
// exits 1 when anything failed.
import fs from "node:fs";
import http from "node:http";
import crypto from "node:crypto";
import yaml from "js-yaml";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [portArg, docPath, ...keyArgs] = process.argv.slice(2);
if (!portArg || !docPath) {
  console.error("usage: node tests/contract.mjs <port> <openapi.yaml> [scope=key ...]");
  process.exit(2);
}
const PORT = Number(portArg);
// how many listed items get their detail pages requested (CONTRACT_MAX_ITEMS for a deeper run)
const MAX_ITEMS = Number(process.env.CONTRACT_MAX_ITEMS) || 25;
const doc = yaml.load(fs.readFileSync(docPath, "utf8"));
const keys = {}; // scope -> key
for (const a of keyArgs) {
  const i = a.indexOf("=");
  if (i > 0) keys[a.slice(0, i)] = a.slice(i + 1);
}

// ---- schemas -------------------------------------------------------------------------------
const BASE = "https://sparkd.dev/contract/openapi.json";
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema({ ...doc, $id: BASE });
// A second copy of the document where every object schema that lists its properties and says
// nothing about others is closed (unevaluatedProperties: false, so allOf/oneOf still compose):
// a response field the document does not describe is a disagreement too.
const CLOSED = "https://sparkd.dev/contract/openapi-closed.json";
const allOfMembers = new Set(); // components used as allOf parts: closing them would refuse the siblings' properties
(function walk(v, inAllOf) {
  if (Array.isArray(v)) return v.forEach((x) => walk(x, inAllOf));
  if (!v || typeof v !== "object") return;
  if (inAllOf && typeof v.$ref === "string") allOfMembers.add(v.$ref);
  for (const [k, x] of Object.entries(v)) if (k !== "example" && k !== "examples") walk(x, k === "allOf");
})(doc, false);
function close(v, inAllOf, ref) {
  if (Array.isArray(v)) return v.map((x) => close(x, inAllOf));
  if (!v || typeof v !== "object") return v;
  const out = {};
  for (const [k, x] of Object.entries(v))
    out[k] = k === "example" || k === "examples" ? x : close(x, k === "allOf", ref === "#/components/schemas" ? `${ref}/${k}` : ref === "#/components" && k === "schemas" ? "#/components/schemas" : ref === "" && k === "components" ? "#/components" : null);
  if (out.properties && typeof out.properties === "object" && !("additionalProperties" in out) && !("unevaluatedProperties" in out) && !inAllOf && !out.$ref && !allOfMembers.has(ref))
    out.unevaluatedProperties = false;
  return out;
}
ajv.addSchema({ ...close(doc, false, ""), $id: CLOSED });
const compiled = new Map();
const ptrEsc = (s) => String(s).replace(/~/g, "~0").replace(/\//g, "~1");
/* Returns the Ajv validator for the schema at a JSON pointer into the document. */
function validatorAt(ptr, base = BASE) {
  const k = base + "#" + encodeURI(ptr);
  if (!compiled.has(k)) compiled.set(k, ajv.compile({ $ref: k }));
  return compiled.get(k);
}
/* Returns the value at a "#/a/b" pointer in the document. */
function at(ref) {
  let v = doc;
  for (const part of ref.replace(/^#\//, "").split("/")) v = v?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  return v;
}
/* Follows $ref (non-schema objects: responses, parameters, headers, examples); returns {v, ptr}. */
function deref(v, ptr) {
  for (let i = 0; i < 16 && v && typeof v === "object" && typeof v.$ref === "string"; i++) {
    ptr = v.$ref.replace(/^#/, "");
    v = at(v.$ref);
  }
  return { v, ptr };
}
/* Returns a schema with its top-level $ref chain followed (for reading examples and types). */
function schemaOf(s) {
  for (let i = 0; i < 16 && s && s.$ref; i++) s = at(s.$ref);
  return s || {};
}
const fmtErrors = (errs) =>
  (errs || [])
    .slice(0, 6)
    .map((e) => `${e.instancePath || "/"} ${e.message}${e.params && Object.keys(e.params).length ? " " + JSON.stringify(e.params) : ""} (${e.schemaPath})`)
    .join("; ");

// ---- HTTP ------------------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
/* Sends one request; resolves {status, headers, body}. */
function request(method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) h["Content-Length"] = Buffer.byteLength(body);
    const req = http.request({ host: "127.0.0.1", port: PORT, method, path, headers: h, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.setTimeout(30000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- the walk --------------------------------------------------------------------------------
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ops = [];
for (const [path, item] of Object.entries(doc.paths || {})) {
  for (const m of METHODS) {
    if (!item[m]) continue;
    const op = item[m];
    const params = [];
    const seen = new Set();
    for (const [list, base] of [
      [op.parameters || [], `/paths/${ptrEsc(path)}/${m}/parameters`],
      [item.parameters || [], `/paths/${ptrEsc(path)}/parameters`],
    ]) {
      list.forEach((p, i) => {
        const { v } = deref(p, `${base}/${i}`);
        const k = `${v.in}:${v.name}`;
        if (!seen.has(k)) (seen.add(k), params.push(v));
      });
    }
    ops.push({ path, method: m, op, params, ptr: `/paths/${ptrEsc(path)}/${m}`, okReached: false });
  }
}

const failures = [];
const skipped = []; // {op, why}
const notes = [];
let validated = 0;
const opName = (o) => `${o.method.toUpperCase()} ${o.path}`;
function fail(o, url, status, what) {
  failures.push(`${opName(o)}  ${url}  -> ${status}: ${what}`);
}

/* The documented response object for a status (exact, then 4XX-style, then default). */
function documentedResponse(o, status) {
  const rs = o.op.responses || {};
  for (const k of [String(status), `${String(status)[0]}XX`, `${String(status)[0]}xx`, "default"]) {
    if (rs[k]) return deref(rs[k], `${o.ptr}/responses/${ptrEsc(k)}`);
  }
  return null;
}
const mediaEssence = (ct) => String(ct || "").split(";")[0].trim().toLowerCase();
const mediaParams = (ct) =>
  String(ct || "")
    .split(";")
    .slice(1)
    .map((s) => s.trim().toLowerCase().replace(/\s*=\s*/, "="))
    .filter(Boolean)
    .sort()
    .join(";");
const isJson = (mt) => mt === "application/json" || mt.endsWith("+json");

/* Checks one response against the document; returns the parsed JSON body (or undefined). */
function check(o, url, res, expect) {
  validated++;
  const tag = expect?.why ? ` [${expect.why}]` : "";
  if (expect?.status && !expect.status.includes(res.status)) {
    fail(o, url, res.status, `expected ${expect.status.join(" or ")}${tag}; body ${res.body.slice(0, 300)}`);
  }
  const doc_ = documentedResponse(o, res.status);
  if (!doc_) {
    const listed = Object.keys(o.op.responses || {}).join(", ");
    fail(o, url, res.status, `status not documented (documented: ${listed})${tag}; body ${res.body.slice(0, 300)}`);
    return;
  }
  const { v: resp, ptr: rptr } = doc_;
  // headers
  for (const [name, h0] of Object.entries(resp.headers || {})) {
    const { v: h, ptr: hptr } = deref(h0, `${rptr}/headers/${ptrEsc(name)}`);
    const val = res.headers[name.toLowerCase()];
    if (val === undefined) {
      if (h.required) fail(o, url, res.status, `required header ${name} missing${tag}`);
      continue;
    }
    if (h.schema) {
      const s = schemaOf(h.schema);
      const inst = s.type === "integer" || s.type === "number" ? Number(val) : val;
      const vf = validatorAt(`${hptr}/schema`);
      if (!vf(inst)) fail(o, url, res.status, `header ${name}: ${JSON.stringify(val)}: ${fmtErrors(vf.errors)}`);
    }
  }
  const content = resp.content || {};
  const types = Object.keys(content);
  if (types.length === 0) {
    if (res.body.length) fail(o, url, res.status, `documented without a body, got ${res.body.length} bytes${tag}`);
    return;
  }
  const ct = res.headers["content-type"];
  const ess = mediaEssence(ct);
  const mt = types.find((t) => mediaEssence(t) === ess && (!mediaParams(t) || mediaParams(t) === mediaParams(ct)));
  if (!mt) {
    fail(o, url, res.status, `Content-Type ${JSON.stringify(ct)} is not documented (${types.join(", ")})${tag}`);
    return;
  }
  const media = content[mt];
  const sptr = `${rptr}/content/${ptrEsc(mt)}/schema`;
  let body = res.body;
  if (isJson(ess)) {
    try {
      body = JSON.parse(res.body);
    } catch (e) {
      fail(o, url, res.status, `body is not JSON: ${res.body.slice(0, 200)}`);
      return;
    }
  } else if (ess === "application/yaml") {
    try {
      yaml.load(res.body);
    } catch (e) {
      fail(o, url, res.status, `body is not YAML: ${e.message.split("\n")[0]}`);
    }
  }
  if (media.schema) {
    const vf = validatorAt(sptr);
    if (!vf(body)) fail(o, url, res.status, `schema ${schemaName(media.schema)}: ${fmtErrors(vf.errors)}${tag}`);
    else if (typeof body === "object") {
      const vc = validatorAt(sptr, CLOSED);
      if (!vc(body)) {
        const extra = [...new Set(vc.errors.filter((e) => e.keyword === "unevaluatedProperties").map((e) => `${e.instancePath}/${e.params.unevaluatedProperty}`))];
        if (extra.length) fail(o, url, res.status, `schema ${schemaName(media.schema)}: undocumented properties ${extra.slice(0, 8).join(", ")}${tag}`);
      }
    }
  }
  if (res.status >= 400 && isJson(ess)) {
    const vp = validatorAt("/components/schemas/Problem");
    if (!vp(body)) fail(o, url, res.status, `not a Problem: ${fmtErrors(vp.errors)}`);
    else {
      if (body.status !== res.status) fail(o, url, res.status, `problem status ${body.status} != ${res.status}`);
      if (body.request_id !== res.headers["x-request-id"]) fail(o, url, res.status, `problem request_id != X-Request-Id`);
      // codes the response, the operation or its parameters name
      const texts = [resp.description, o.op.description, ...o.params.map((p) => p.description)];
      const codes = [...new Set(exampleCodes(media).concat(...texts.map(describedCodes)))];
      if (codes.length && !codes.includes(body.code))
        notes.push(`${opName(o)} ${url} -> ${res.status} ${body.code} (the documented examples show ${codes.join(", ")})`);
    }
  }
  if (res.status >= 200 && res.status < 300) o.okReached = true;
  return body;
}
const ERROR_CODES = new Set(schemaOf(at("#/components/schemas/ErrorCode")).enum || []);
/* The error codes a response's description names in backticks. */
const describedCodes = (d) => [...String(d || "").matchAll(/`(?:[0-9]{3} )?([a-z_]+)`/g)].map((m) => m[1]).filter((c) => ERROR_CODES.has(c));
const schemaName = (s) => (s && s.$ref ? s.$ref.split("/").pop() : "inline");
function exampleCodes(media) {
  const out = [];
  if (media.example?.code) out.push(media.example.code);
  for (const e of Object.values(media.examples || {})) {
    const ex = deref(e).v;
    if (ex?.value?.code) out.push(ex.value.code);
  }
  return out;
}

// ---- building requests ----------------------------------------------------------------------
/* Returns the documented example values of a parameter (parameter, then schema). */
function paramExamples(p) {
  const out = [];
  if (p.example !== undefined) out.push(p.example);
  for (const e of Object.values(p.examples || {})) {
    const v = deref(e).v?.value;
    if (v !== undefined) out.push(v);
  }
  const s = schemaOf(p.schema);
  if (s.example !== undefined) out.push(s.example);
  if (Array.isArray(s.examples)) out.push(...s.examples);
  if (!out.length && s.default !== undefined) out.push(s.default);
  if (!out.length && Array.isArray(s.enum)) out.push(s.enum[0]);
  return out;
}
function authHeaders(o, scope) {
  const sec = o.op.security ?? doc.security ?? [];
  const names = sec.flatMap((r) => Object.keys(r));
  if (!names.length) return {};
  const want = scope || scopeOf(names[0]);
  return keys[want] ? { Authorization: `Bearer ${keys[want]}` } : {};
}
const scopeOf = (schemeName) => Object.keys(keys).find((s) => schemeName.toLowerCase().startsWith(s)) || schemeName.replace(/Key$/, "");
const securedBy = (o) => (o.op.security ?? doc.security ?? []).flatMap((r) => Object.keys(r));
function baseHeaders(o, extra = {}) {
  const h = { Accept: "application/json, application/problem+json, */*", ...authHeaders(o) };
  for (const p of o.params) {
    if (p.in !== "header") continue;
    if (/^idempotency-key$/i.test(p.name)) h[p.name] = `contract-${crypto.randomUUID()}`;
    else if (p.required) {
      const ex = paramExamples(p);
      if (ex.length) h[p.name] = String(ex[0]);
    }
  }
  return { ...h, ...extra };
}
function fillPath(path, vals) {
  return path.replace(/\{([^}]+)\}/g, (_, n) => encodeURIComponent(String(vals[n])));
}
function query(pairs) {
  const q = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&");
  return q ? `?${q}` : "";
}

// Discovery: values for a path parameter from the items of a listed GET above it.
const FIELD_GUESSES = (n) => [n, `${n}_id`, `${n}_address`, "id", "address", n === "chain" ? "chain_id" : null].filter(Boolean);
const listCache = new Map();
async function listItems(o, url) {
  if (!listCache.has(url)) {
    const res = await request("GET", url, { headers: baseHeaders(o) });
    let items = [];
    if (res.status === 200) {
      try {
        const b = JSON.parse(res.body);
        // `data`, else the body's one array of objects (`positions`, `webhooks`)
        items = Array.isArray(b) ? b : Array.isArray(b?.data) ? b.data : Object.values(b || {}).find((v) => Array.isArray(v) && typeof v[0] === "object") || [];
      } catch {}
    }
    listCache.set(url, items);
  }
  return listCache.get(url);
}
/* Returns up to `max` values for param `name` of template `path` given earlier values. */
async function discover(path, name, vals, max) {
  const segs = path.split("/");
  const idx = segs.indexOf(`{${name}}`);
  for (let end = idx; end > 1; end--) {
    const prefix = segs.slice(0, end).join("/");
    if (/\{[^}]+\}$/.test(prefix) && end !== idx) continue;
    const lop = ops.find((x) => x.method === "get" && x.path === prefix);
    if (!lop) continue;
    const needs = [...prefix.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    if (needs.some((n) => vals[n] === undefined)) continue;
    const limitParam = lop.params.find((p) => p.in === "query" && p.name === "limit");
    const url = fillPath(prefix, vals) + (limitParam ? query([["limit", Math.min(max, schemaOf(limitParam.schema).maximum ?? max)]]) : "");
    const items = await listItems(lop, url);
    const out = [];
    for (const it of items) {
      // items of a list above the chain segment must belong to the chosen earlier values
      if (vals.chain !== undefined && it && it.chain_id !== undefined && String(it.chain_id) !== String(vals.chain)) continue;
      for (const f of FIELD_GUESSES(name)) {
        let v = it?.[f];
        if (v && typeof v === "object") v = v.address ?? v.id;
        if (v !== undefined && v !== null && typeof v !== "object") {
          if (!out.includes(v)) out.push(v);
          break;
        }
      }
      if (out.length >= max) break;
    }
    if (out.length) return out;
  }
  return [];
}
/* Returns the examples of path parameters of this name anywhere in the document (AccChain has
 * none of its own; every {chain} is the same chain id). */
function sameNameExamples(name) {
  return ops.flatMap((o) => o.params.filter((p) => p.in === "path" && p.name === name && p.example !== undefined).map((p) => p.example));
}
/* Returns up to `max` assignments {name: value} of the path parameters of o. */
async function pathAssignments(o, max = MAX_ITEMS) {
  const names = [...o.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  let assigns = [{}];
  for (const n of names) {
    const p = o.params.find((x) => x.in === "path" && x.name === n);
    const next = [];
    for (const a of assigns) {
      const found = await discover(o.path, n, a, max);
      const cands = [...found]; // discovered first: an example's id may not exist in this database
      for (const e of p ? paramExamples(p).concat(sameNameExamples(n)) : []) if (!cands.some((c) => String(c).toLowerCase() === String(e).toLowerCase())) cands.push(e);
      for (const c of cands.slice(0, max)) next.push({ ...a, [n]: c });
    }
    assigns = next.slice(0, max);
    if (!assigns.length) return [];
  }
  return assigns;
}

/* A JSON value built from a schema's examples (required properties, and optional ones that have
 * one); undefined when some required part has no example and no obvious value. */
function sample(s0, depth = 0) {
  const s = schemaOf(s0);
  if (depth > 12) return undefined;
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.enum)) return s.enum[0];
  if (s.default !== undefined) return s.default;
  for (const k of ["oneOf", "anyOf"]) if (Array.isArray(s[k])) return sample(s[k][0], depth + 1);
  if (Array.isArray(s.allOf)) {
    const parts = s.allOf.map((x) => sample(x, depth + 1));
    return parts.every((x) => x && typeof x === "object") ? Object.assign({}, ...parts) : parts[0];
  }
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  if (type === "object" || s.properties) {
    if (!s.properties) return undefined; // an open object (a whole snapshot): nothing to build from
    const out = {};
    for (const [k, ps] of Object.entries(s.properties || {})) {
      const req = (s.required || []).includes(k);
      const v = sample(ps, depth + 1);
      if (v === undefined) {
        if (req) return undefined;
        continue;
      }
      out[k] = v;
    }
    return out;
  }
  if (type === "array") {
    const v = sample(s.items, depth + 1);
    return v === undefined ? undefined : Array.from({ length: Math.max(1, s.minItems || 1) }, () => v);
  }
  if (type === "integer" || type === "number") return s.minimum ?? 1;
  if (type === "boolean") return true;
  if (type === "string") {
    if (s.format === "date-time") return new Date().toISOString().replace(/\.\d+Z$/, "Z");
    if (s.format === "uri") return "https://example.com/";
    if (!s.pattern) return "x".repeat(Math.max(1, s.minLength || 1));
  }
  return undefined;
}
/* Returns [{name, body}] for the documented request examples of o's JSON request body. */
function requestBodies(o) {
  const rb = deref(o.op.requestBody, `${o.ptr}/requestBody`);
  if (!rb.v) return { bodies: [], mt: null };
  const content = rb.v.content || {};
  const mt = Object.keys(content).find((t) => isJson(mediaEssence(t)));
  if (!mt) return { bodies: [], mt: null };
  const media = content[mt];
  const out = [];
  if (media.example !== undefined) out.push({ name: "example", body: media.example });
  for (const [n, e] of Object.entries(media.examples || {})) {
    const v = deref(e).v?.value;
    if (v !== undefined) out.push({ name: n, body: v });
  }
  if (!out.length && media.schema) {
    const v = sample(media.schema);
    if (v !== undefined) {
      const vf = validatorAt(`${rb.ptr}/content/${ptrEsc(mt)}/schema`);
      if (vf(v)) out.push({ name: "built from the schema's examples", body: v, built: true });
    }
  }
  return { bodies: out, mt, required: !!rb.v.required };
}

function requiredQuery(o) {
  const pairs = [];
  for (const p of o.params) {
    if (p.in !== "query" || !p.required) continue;
    const ex = paramExamples(p);
    if (!ex.length) return null;
    pairs.push([p.name, ex[0]]);
  }
  return pairs;
}
function exampleQuery(o) {
  const pairs = [];
  for (const p of o.params) {
    if (p.in !== "query") continue;
    const ex = paramExamples(p);
    if (ex.length && (p.required || p.example !== undefined || p.examples || schemaOf(p.schema).example !== undefined)) pairs.push([p.name, ex[0]]);
  }
  return pairs;
}

// ---- phases ----------------------------------------------------------------------------------
async function send(o, method, url, opts, expect) {
  let res;
  try {
    res = await request(method, url, opts);
  } catch (e) {
    fail(o, url, "-", `request failed: ${e.message}`);
    return {};
  }
  return { res, body: check(o, url, res, expect) };
}

async function runGet(o) {
  const assigns = o.path.includes("{") ? await pathAssignments(o) : [{}];
  if (!assigns.length) {
    skipped.push({ o, why: "no path parameter value (no example, nothing listed)" });
    return;
  }
  const rq = requiredQuery(o);
  if (rq === null) {
    skipped.push({ o, why: "a required query parameter has no example" });
    return;
  }
  const eq = exampleQuery(o);
  const cursorParam = o.params.find((p) => p.in === "query" && p.name === "cursor");
  for (const a of assigns) {
    const base = fillPath(o.path, a);
    const urls = [base + query(rq)];
    if (eq.length > rq.length) urls.push(base + query(eq));
    // and each optional example alone (filters that together may match nothing)
    if (eq.length > rq.length + 1)
      for (const pair of eq) if (!rq.some(([k]) => k === pair[0])) urls.push(base + query(rq.concat([pair])));
    // integer query parameters (limit, after, before) all at their minimum, then at their maximum
    for (const end of ["minimum", "maximum"]) {
      const ints = o.params.filter((p) => p.in === "query" && schemaOf(p.schema).type === "integer" && schemaOf(p.schema)[end] !== undefined);
      if (ints.length) urls.push(base + query(rq.concat(ints.map((p) => [p.name, schemaOf(p.schema)[end]]))));
    }
    // every value of an enumerated query parameter, once each (preview: deposit, mint, withdraw, redeem)
    for (const p of o.params) {
      const en = p.in === "query" ? schemaOf(p.schema).enum : null;
      if (!Array.isArray(en)) continue;
      for (const v of en) {
        const u = base + query(eq.filter(([k]) => k !== p.name).concat([[p.name, v]]));
        if (!urls.includes(u)) urls.push(u);
      }
    }
    for (const url of urls) {
      const { res, body } = await send(o, "GET", url, { headers: baseHeaders(o) });
      if (!res) continue;
      if (url === urls[0] && a === assigns[0]) await headAndOptions(o, url, res);
      if (res.status === 200 && res.headers.etag && o.op.responses?.["304"]) {
        await send(o, "GET", url, { headers: baseHeaders(o, { "If-None-Match": res.headers.etag }) }, { status: [304], why: "If-None-Match" });
      }
      if (res.status === 200 && cursorParam && body && typeof body.next_cursor === "string") {
        const sep = url.includes("?") ? "&" : "?";
        await send(o, "GET", `${url}${sep}cursor=${encodeURIComponent(body.next_cursor)}`, { headers: baseHeaders(o) }, { status: [200], why: "next page" });
      }
    }
  }
}

/* The conventions info.description states for every GET: HEAD answers the same status and headers
 * with no body; OPTIONS answers 204 with an Allow naming the path's methods. */
async function headAndOptions(o, url, got) {
  let h;
  try {
    h = await request("HEAD", url, { headers: baseHeaders(o) });
  } catch (e) {
    return fail(o, url, "-", `HEAD failed: ${e.message}`);
  }
  validated++;
  if (h.status !== got.status) fail(o, url, h.status, `HEAD status ${h.status} != GET ${got.status}`);
  if (h.body.length) fail(o, url, h.status, `HEAD sent a body of ${h.body.length} bytes`);
  for (const k of ["content-type", "content-length", "etag", "cache-control"])
    // (the length of /metrics moves between two requests: its counters count them)
    if (got.status === h.status && String(h.headers[k]) !== String(got.headers[k]) && !(k === "content-length" && mediaEssence(got.headers["content-type"]) === "text/plain"))
      fail(o, url, h.status, `HEAD ${k} ${JSON.stringify(h.headers[k])} != GET ${JSON.stringify(got.headers[k])}`);
  let r;
  try {
    r = await request("OPTIONS", url);
  } catch (e) {
    return fail(o, url, "-", `OPTIONS failed: ${e.message}`);
  }
  validated++;
  const allow = String(r.headers.allow || "").toLowerCase().split(/\s*,\s*/);
  const listed = METHODS.filter((m) => doc.paths[o.path][m]);
  if (r.status !== 204) fail(o, url, r.status, `OPTIONS answered ${r.status}, not 204`);
  for (const m of listed.concat(["head", "options"])) if (!allow.includes(m)) fail(o, url, r.status, `OPTIONS Allow ${JSON.stringify(r.headers.allow)} does not name ${m.toUpperCase()}`);
}

async function runWithBody(o) {
  const { bodies, mt } = requestBodies(o);
  let assigns = [{}];
  if (o.path.includes("{")) assigns = await pathAssignments(o, 1);
  if (!assigns.length) {
    skipped.push({ o, why: "no path parameter value (no example, nothing listed)" });
    return;
  }
  if (o.op.requestBody && !bodies.length) {
    skipped.push({ o, why: "no request example, and none can be built from the schema" });
    return;
  }
  const rq = requiredQuery(o) || [];
  const list = bodies.length ? bodies : [{ name: "no body", body: undefined }];
  for (const b of list) {
    const a = assigns[0];
    const url = fillPath(o.path, a) + query(rq);
    const opts = { headers: baseHeaders(o, b.body !== undefined ? { "Content-Type": mt } : {}) };
    if (b.body !== undefined) opts.body = JSON.stringify(b.body);
    const { res } = await send(o, o.method.toUpperCase(), url, opts);
    if (res && (res.status < 200 || res.status >= 300))
      notes.push(`${opName(o)} example "${b.name}" -> ${res.status} ${res.body.slice(0, 200)}`);
  }
}

/* A value of the same shape as v that names nothing. */
function unknownLike(v, p) {
  const s = String(v);
  if (/^0x[0-9a-fA-F]{40}$/.test(s)) return "0x00000000000000000000000000000000000dEaD1";
  if (/^\d+$/.test(s)) {
    const max = schemaOf(p?.schema).maximum;
    return String(max !== undefined && max < 999999 ? max : 999999);
  }
  if (/^[0-9a-f-]{36}$/i.test(s)) return crypto.randomUUID();
  return "ZZZNOSUCH";
}
function malformedLike(v) {
  const s = String(v);
  if (/^0x[0-9a-fA-F]{40}$/.test(s)) return "0x1234";
  if (/^\d+$/.test(s)) return "abc";
  return "bad~value!";
}
/* The *_not_found codes the operation's documented 404 names (examples and description). */
function notFoundCodes(o) {
  const r = documentedResponse(o, 404);
  if (!r || !o.op.responses?.["404"]) return [];
  const out = [...String(r.v.description || "").matchAll(/`([a-z_]+_not_found)`/g)].map((m) => m[1]);
  for (const media of Object.values(r.v.content || {})) out.push(...exampleCodes(media));
  return out;
}
const documented = (o, s) => !!(o.op.responses || {})[String(s)];
const doc4xx = (o) => Object.keys(o.op.responses || {}).filter((k) => /^4\d\d$/.test(k)).map(Number);

async function runMustFail(o) {
  const method = o.method.toUpperCase();
  const { bodies, mt } = requestBodies(o);
  const goodBody = bodies[0]?.body;
  const withBody = (extra = {}) => {
    const h = baseHeaders(o, goodBody !== undefined ? { "Content-Type": mt, ...extra } : extra);
    return goodBody !== undefined ? { headers: h, body: JSON.stringify(goodBody) } : { headers: h };
  };
  const rq = requiredQuery(o) || [];
  let assign = {};
  if (o.path.includes("{")) {
    const as = await pathAssignments(o, 1);
    if (!as.length) return;
    assign = as[0];
    for (const n of Object.keys(assign)) {
      const p = o.params.find((x) => x.in === "path" && x.name === n);
      const unk = { ...assign, [n]: unknownLike(assign[n], p) };
      // 404 is expected only where the document's 404 names a code for this parameter (an
      // account address with no positions, for one, is documented as a 200)
      const promised = notFoundCodes(o).some((c) => c.startsWith(`${n}_`) || (n === "id" && !/^(route|chain)_/.test(c)));
      await send(o, method, fillPath(o.path, unk) + query(rq), withBody(), promised ? { status: [404], why: `unknown ${n}` } : { why: `unknown ${n}` });
      const bad = { ...assign, [n]: malformedLike(assign[n]) };
      await send(o, method, fillPath(o.path, bad) + query(rq), withBody(), { status: doc4xx(o), why: `malformed ${n}` });
    }
  }
  const url = fillPath(o.path, assign) + query(rq);
  if (o.op.requestBody && mt) {
    await send(o, method, url, { headers: baseHeaders(o, { "Content-Type": mt }), body: '{"broken": [1, ' }, { status: [400], why: "malformed JSON body" });
    if (documented(o, 415))
      await send(o, method, url, { headers: baseHeaders(o, { "Content-Type": "text/plain" }), body: "hello" }, { status: [415], why: "text/plain body" });
  }
  if (documented(o, 400) && !(o.op.requestBody && goodBody === undefined)) {
    for (const p of o.params) {
      if (p.in !== "query") continue;
      const s = schemaOf(p.schema);
      let bad;
      if (Array.isArray(s.enum)) bad = "zzz-not-listed";
      else if (s.type === "integer") bad = s.minimum !== undefined ? String(s.minimum - 1) : "1.5x";
      else if (s.type === "string" && s.pattern && !new RegExp(s.pattern, "u").test("!bad!")) bad = "!bad!";
      else if (s.type === "boolean") bad = "maybe";
      else if (p.name === "cursor") bad = "not-a-cursor"; // opaque, but one this list never returned
      else continue;
      const pairs = rq.filter(([k]) => k !== p.name).concat([[p.name, bad]]);
      const opts = goodBody !== undefined ? withBody() : { headers: baseHeaders(o) };
      await send(o, method, fillPath(o.path, assign) + query(pairs), opts, { status: [400], why: `bad query ${p.name}=${bad}` });
    }
  }
  if (!o.op.requestBody && documented(o, 413)) {
    await send(o, method, url, { headers: baseHeaders(o, { "Content-Type": "application/json" }), body: "{}" }, { status: [413], why: "a body where none is accepted" });
  }
  const sec = securedBy(o);
  if (sec.length) {
    const opts = withBody();
    delete opts.headers.Authorization;
    await send(o, method, url, opts, { status: [401], why: "no key" });
    // another partner's record looks exactly like one that does not exist
    if (keys.partner2 && scopeOf(sec[0]) === "partner" && Object.keys(assign).length && documented(o, 404)) {
      await send(o, method, url, withBody({ Authorization: `Bearer ${keys.partner2}` }), { status: [404], why: "another partner's key" });
    }
    const mine = scopeOf(sec[0]);
    const other = Object.keys(keys).find((s) => s !== mine && !s.startsWith(mine));
    if (other && documented(o, 403)) {
      const o2 = withBody({ Authorization: `Bearer ${keys[other]}` });
      await send(o, method, url, o2, { status: [403], why: `${other} key` });
    }
  }
}

/* A method the path does not list: the documented 405 with an Allow header naming the listed ones. */
async function runWrongMethod(path) {
  const item = doc.paths[path];
  const listed = METHODS.filter((m) => item[m]);
  const o = ops.find((x) => x.path === path && documented(x, 405));
  const m = ["put", "patch", "delete", "post"].find((x) => !listed.includes(x));
  if (!o || !m) return;
  const as = path.includes("{") ? await pathAssignments(o, 1) : [{}];
  if (!as.length) return;
  const url = fillPath(path, as[0]);
  const { res } = await send(o, m.toUpperCase(), url, { headers: baseHeaders(o) }, { status: [405], why: `${m.toUpperCase()} not listed` });
  if (res?.status === 405) {
    const allow = String(res.headers.allow || "").toLowerCase().split(/\s*,\s*/);
    for (const l of listed) if (!allow.includes(l)) fail(o, url, 405, `Allow ${JSON.stringify(res.headers.allow)} does not name ${l.toUpperCase()}`);
  }
}

async function waitReady() {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await request("GET", "/v1/markets");
      if (r.status === 200 && JSON.parse(r.body).data?.length) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  console.error("contract: /v1/markets never answered 200 with data (state cache not built?)");
}

/* Waits until the state cache has caught up with the database (/metrics: no rebuild asked for or
 * running): an import earlier in the run (POST /v1/admin/snapshots) changes what the cached GETs
 * answer, and a rebuild landing between a GET and its HEAD or If-None-Match twin would change the
 * ETag under them. */
async function settle() {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await request("GET", "/metrics");
      const gen = /\nsparkd_state_cache_generation (\d+)/.exec(r.body);
      const pending = /\nsparkd_state_cache_pending (\d+)/.exec(r.body);
      if (!gen || !pending) {
        console.error("contract: /metrics has no sparkd_state_cache_generation/pending gauges");
        process.exit(1);
      }
      if (Number(gen[1]) > 0 && pending[1] === "0") return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  console.error("contract: the state cache never settled (sparkd_state_cache_pending stayed 1 for 30 s)");
  process.exit(1);
}

async function main() {
  await waitReady();
  await settle();
  const byPhase = (f) => ops.filter(f);
  const hasPathParams = (o) => o.path.includes("{");
  for (const o of byPhase((o) => o.method === "post" && !hasPathParams(o))) await runWithBody(o);
  for (const o of byPhase((o) => !["get", "delete"].includes(o.method) && !(o.method === "post" && !hasPathParams(o)))) await runWithBody(o);
  listCache.clear();
  await settle();
  for (const o of byPhase((o) => o.method === "get")) await runGet(o);
  for (const o of byPhase((o) => o.method === "delete")) await runWithBody(o);
  listCache.clear();
  for (const o of ops) await runMustFail(o);
  for (const path of Object.keys(doc.paths || {})) await runWrongMethod(path);
  for (const o of ops) {
    if (!o.okReached && !skipped.some((s) => s.o === o)) fail(o, "-", "-", "no request reached a 2xx response");
  }
  agent.destroy();

  const reasons = skipped.map((s) => `${opName(s.o)}: ${s.why}`).join("; ");
  console.log(`contract: ${ops.length} operations, ${validated} responses validated, ${skipped.length} skipped${skipped.length ? ` (${reasons})` : ""}`);
  for (const n of notes) console.log(`note: ${n}`);
  for (const f of failures) console.log(`FAIL: ${f}`);
  process.exit(failures.length ? 1 : 0);
}
main().catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
