// The /ops page: every figure comes from sparkd's JSON API (openapi.yaml); charts by uPlot, both
// compiled into the binary. Plain JS, no framework, no inline code (the page's CSP allows only
// scripts from this origin).
//
// Keys: routes under /v1/risk/ and /v1/oracles/ need an ops key (partner LTV states across
// partners included). The user pastes it; it is kept in sessionStorage (this tab only, gone when
// it closes), sent as `Authorization: Bearer <key>` and never written into the page, a URL or
// localStorage.
"use strict";

(function () {
  const OPS_KEY = "sparkd.ops.key";
  const $ = (id) => document.getElementById(id);
  const charts = {}; // name -> uPlot, read by tests/browser/ops.mjs through window.sparkdOps
  const state = { chain: null, asOf: null, reserves: [], pending: 0 };
  window.sparkdOps = { charts, state };

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }

  function table(t, head, rows) {
    t.replaceChildren(el("thead", null, el("tr", null, ...head.map((h) => el("th", { text: h })))));
    const body = el("tbody");
    for (const r of rows) body.append(el("tr", null, ...r.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", null, c)))));
    t.append(body);
  }

  const num = (s) => (s == null ? NaN : Number(s));
  const usdFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 2 });
  const usd = (s) => (s == null || isNaN(num(s)) ? "–" : usdFmt.format(num(s)));
  const pct = (f, d = 2) => (f == null || isNaN(num(f)) ? "–" : (num(f) * 100).toFixed(d) + "%");
  const age = (s) => (s == null ? "–" : s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : s < 172800 ? (s / 3600).toFixed(1) + " h" : (s / 86400).toFixed(1) + " d");
  const when = (unix) => (unix == null ? "–" : new Date(unix * 1000).toISOString().replace(".000Z", "Z"));

  // A bar 0..1 drawn with an element's width (CSSOM, which the CSP allows).
  function bar(frac, cls) {
    const outer = el("span", { class: "bar " + (cls || "") });
    const inner = el("span");
    inner.style.width = Math.max(0, Math.min(1, frac)) * 100 + "%";
    outer.append(inner);
    return outer;
  }

  function showError(where, msg) {
    const li = el("li", { text: where + ": " + msg });
    $("errors").append(li);
  }

  // Marks a keyed section as waiting for a key (instead of sending a request bound to fail).
  function needsKey(section, what) {
    const s = $(section);
    s.classList.add("locked");
    let n = s.querySelector(".needkey");
    if (!n) {
      n = el("p", { class: "needkey" });
      s.querySelector("h2").after(n);
    }
    n.textContent = "Paste " + what + " above to see this section.";
  }
  function unlock(section) {
    const s = $(section);
    s.classList.remove("locked");
    const n = s.querySelector(".needkey");
    if (n) n.remove();
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem && problem.detail ? `${status} ${problem.code}: ${problem.detail}` : `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  // GET or POST a relative API path; `key` is sent as a bearer token when given. A 503 `busy`
  // (the server's heavy computations are all running, SPARKD_HEAVY_CONCURRENCY) is asked again
  // after its Retry-After, a few times: this page itself starts several at once.
  async function api(path, { key, method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (key) headers.Authorization = "Bearer " + key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-cache" });
      const text = await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch (e) {
        throw new Error(`${path}: not JSON (${res.status})`);
      }
      if (res.status === 503 && json && json.code === "busy" && attempt < 5) {
        const wait = Math.min(Number(res.headers.get("Retry-After")) || 1, 10);
        await new Promise((ok) => setTimeout(ok, wait * 1000));
        continue;
      }
      if (!res.ok) throw new ApiError(res.status, json);
      return json;
    }
  }

  // Every page of a list route (next_cursor), at most `max` pages.
  async function all(path, opts, max = 100) {
    const out = [];
    let cursor = null;
    for (let i = 0; i < max; i++) {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path, opts);
      out.push(...page.data);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return out;
  }

  // Runs one section's loader; its failure is shown on the page (and the console) without
  // stopping the others. body[data-state] becomes "ready" when every loader has finished.
  async function section(name, fn) {
    state.pending++;
    const s = $(name);
    if (s) s.dataset.state = "loading";
    try {
      await fn();
      if (s) s.dataset.state = "ready";
    } catch (e) {
      if (s) s.dataset.state = "error";
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        needsKey(name, e.status === 401 ? "a valid key" : "a key of the right scope");
        showError(name, e.message);
      } else {
        showError(name, e.message);
        console.error(name, e);
      }
    } finally {
      if (--state.pending === 0) document.body.dataset.state = "ready";
    }
  }

  // ---- charts --------------------------------------------------------------------------------

  const palette = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"];

  function chartWidth(div) {
    return Math.max(320, div.clientWidth || div.parentElement.clientWidth || 800);
  }

  // (Re)draws chart `name` in div: data = [xs, ...ys]. Records how many points hold a value.
  function draw(name, div, opts, data) {
    if (charts[name]) charts[name].destroy();
    div.replaceChildren();
    const u = new uPlot(Object.assign({ width: chartWidth(div), height: 280 }, opts), data, div);
    charts[name] = u;
    let points = 0;
    for (let i = 1; i < data.length; i++) for (const v of data[i]) if (v != null && !isNaN(v)) points++;
    div.dataset.points = String(points);
    return u;
  }

  window.addEventListener("resize", () => {
    for (const u of Object.values(charts)) u.setSize({ width: chartWidth(u.root.parentElement), height: 280 });
  });

  const usdAxis = (u, vals) => vals.map((v) => usdFmt.format(v));
  const barsPath = () => uPlot.paths.bars({ size: [0.6, 80] });

  // ---- sections ------------------------------------------------------------------------------

  async function loadMarkets() {
    const res = await api(`v1/markets/${state.chain}/reserves?limit=100`);
    state.reserves = res.data;
    state.asOf = res.as_of;
    $("asof").textContent = `block ${res.as_of.block_number} · ${res.as_of.block_time}`;
    let sup = 0, debt = 0;
    const rows = res.data.map((r) => {
      const p = num(r.price_usd);
      const s = num(r.total_supplied_human) * p, d = num(r.total_borrowed_human) * p;
      sup += s;
      debt += d;
      const flags = [r.flags.frozen && "frozen", r.flags.paused && "paused", !r.flags.active && "inactive"].filter(Boolean).join(", ");
      return [r.symbol, usd(r.price_usd), usd(s), usd(d), el("td", null, pct(r.utilization, 1), " ", bar(num(r.utilization))), pct(r.supply_apy), pct(r.borrow_apy),
        `${(r.ltv_bps / 100).toFixed(2)}% / ${(r.liquidation_threshold_bps / 100).toFixed(2)}%`, flags || "–"];
    });
    table($("markets-table"), ["asset", "price", "supplied", "borrowed", "utilization", "supply APY", "borrow APY", "LTV / LT", "flags"], rows);
    $("markets-total").textContent = `${res.data.length} reserves · supplied ${usd(sup)} · borrowed ${usd(debt)}`;
  }

  // The buckets are sparkd's (GET /v1/risk/{chain}/health-factor-histogram, default edges):
  // counted server-side over every account, so the page costs one request at any book size.
  async function loadHealthFactors(key) {
    const h = await api(`v1/risk/${state.chain}/health-factor-histogram`, { key });
    const hf = (s) => String(Number(s));
    const labels = h.buckets.map((b) => (b.min_health_factor == null ? `< ${hf(b.max_health_factor)}` : b.max_health_factor == null ? `≥ ${hf(b.min_health_factor)}` : `${hf(b.min_health_factor)}–${hf(b.max_health_factor)}`));
    const count = h.buckets.map((b) => b.accounts), debt = h.buckets.map((b) => num(b.total_debt_usd));
    const n = labels.length;
    state.hf = h;
    draw("hf", $("hf-chart"), {
      title: `${h.accounts} accounts at block ${h.as_of.block_number} (${h.no_debt.accounts} without debt)`,
      scales: { x: { time: false, range: [-0.5, n - 0.5] }, n: {} },
      axes: [{ values: (u, vals) => vals.map((v) => labels[v] ?? ""), splits: () => labels.map((_, i) => i), label: "health factor" },
        { values: usdAxis, label: "debt" }, { scale: "n", side: 1, grid: { show: false }, label: "accounts" }],
      series: [{ label: "bucket", value: (u, v) => labels[v] ?? "" },
        { label: "debt (USD)", fill: "#93c5fd", stroke: "#2563eb", paths: barsPath(), points: { show: false }, value: (u, v) => usd(v) },
        { label: "accounts", scale: "n", stroke: "#dc2626", width: 2, points: { show: true, size: 7 } }],
    }, [labels.map((_, i) => i), debt, count]);
    $("hf").dataset.source = "histogram";
    table($("hf-table"), ["health factor", ...labels, "no debt"], [["accounts", ...count.map(String), String(h.no_debt.accounts)], ["debt", ...debt.map(usd), usd(0)]]);
  }

  let larData = null;
  function drawLar() {
    const metric = $("lar-metric").value;
    const curves = larData.curves;
    const xs = curves[0].points.map((p) => num(p.drop) * 100);
    const series = [{ label: "price drop %", value: (u, v) => (v == null ? "" : v.toFixed(1) + "%") }];
    const ys = [];
    curves.forEach((c, i) => {
      const byDrop = new Map(c.points.map((p) => [num(p.drop) * 100, num(p[metric])]));
      ys.push(xs.map((x) => byDrop.get(x) ?? null));
      series.push({ label: c.assets.length > 1 ? `all ${c.assets.length} together` : c.label, stroke: palette[i % palette.length], width: c.assets.length > 1 ? 3 : 1.5, dash: c.assets.length > 1 ? [6, 4] : undefined,
        value: metric === "accounts_liquidatable" ? undefined : (u, v) => usd(v) });
    });
    draw("lar", $("lar-chart"), {
      scales: { x: { time: false } },
      axes: [{ label: "price drop (%)" }, { values: metric === "accounts_liquidatable" ? undefined : usdAxis, size: 70 }],
      series,
    }, [xs, ...ys]);
  }

  async function loadLiquidationsAtRisk(key) {
    try {
      // 5% steps: half the server's work of its default 2.5% grid (the per-asset curves cost seconds
      // on 100,000 accounts), and as readable at this chart's size
      const drops = Array.from({ length: 11 }, (_, i) => (i * 0.05).toFixed(2)).join(",");
      larData = await api(`v1/risk/${state.chain}/liquidations-at-risk?drops=${drops}`, { key });
      drawLar();
    } finally {
      fillStressForm(); // from the reserves when the curves could not be had
    }
  }

  // The stress form lists the volatile assets (those of the liquidations-at-risk curves, else the
  // reserves whose price is not 1 USD), each with a -40% default shock.
  function fillStressForm() {
    const body = $("stress-shocks").querySelector("tbody");
    if (body.children.length) return;
    let assets = larData ? [...new Set(larData.curves.filter((c) => c.assets.length === 1).map((c) => c.assets[0]))] : [];
    if (!assets.length) assets = state.reserves.filter((r) => r.price_usd !== "1.00000000").map((r) => r.symbol);
    for (const a of assets) {
      const shock = el("input", { type: "number", step: "any", min: "-100", max: "1000", value: "-40", "data-asset": a, class: "shock" });
      const depth = el("input", { type: "number", step: "any", min: "0", placeholder: "none", "data-asset": a, class: "depth" });
      body.append(el("tr", null, el("td", { text: a }), el("td", null, shock), el("td", null, depth)));
    }
  }

  // Decimal string with at most `d` fraction digits from a JS number (no exponent).
  const dec = (x, d) => {
    const s = x.toFixed(d).replace(/\.?0+$/, "");
    return s === "-0" ? "0" : s;
  };

  async function runStress(ev) {
    ev.preventDefault();
    const key = sessionStorage.getItem(OPS_KEY);
    if (!key) return needsKey("stress", "an ops key");
    const body = { price_shocks: {}, cascade_rounds: Number($("stress-rounds").value || 0), horizon_days: Number($("stress-horizon").value || 0) };
    for (const i of document.querySelectorAll("#stress-shocks input.shock")) if (i.value !== "" && Number(i.value) !== 0) body.price_shocks[i.dataset.asset] = dec(Number(i.value) / 100, 4);
    for (const i of document.querySelectorAll("#stress-shocks input.depth")) {
      if (i.value === "" || !(Number(i.value) > 0)) continue;
      body.slippage = body.slippage || {};
      // spec §3.3 defaults: 10 bp spread, 5% daily volatility, impact coefficient 1; depth in base units (8 decimals)
      body.slippage[i.dataset.asset] = { spread_bps: 10, daily_volatility: "0.05", depth_base: BigInt(Math.round(Number(i.value))) * 100000000n + "", impact_coefficient: "1" };
    }
    $("stress-status").textContent = "running…";
    $("stress-run").disabled = true;
    try {
      const r = await api(`v1/risk/${state.chain}/stress`, { key, method: "POST", body });
      showStress(r);
      $("stress-status").textContent = `done (block ${r.as_of.block_number})`;
      $("stress").dataset.result = "ready";
    } catch (e) {
      $("stress-status").textContent = e.message;
      if (e instanceof ApiError && e.problem && e.problem.errors) $("stress-status").textContent += " — " + e.problem.errors.map((x) => `${x.field}: ${x.message}`).join("; ");
      $("stress").dataset.result = "error";
    } finally {
      $("stress-run").disabled = false;
    }
  }

  function showStress(r) {
    $("stress-result").hidden = false;
    const t = r.totals;
    $("stress-totals").textContent = `${t.accounts_liquidated} accounts liquidated (${t.accounts_insolvent} insolvent) · collateral seized ${usd(t.collateral_seized_usd)} · debt repaid ${usd(t.debt_repaid_usd)} · recovered ${usd(t.recovery_usd)} · bad debt ${usd(t.bad_debt_usd)}`;
    const rows = r.reserves
      .filter((x) => num(x.collateral_seized_base) || num(x.debt_repaid_base) || num(x.bad_debt_base))
      .map((x) => [x.symbol, usd(num(x.price_after_base) / 1e8), usd(x.collateral_seized_usd), usd(x.debt_repaid_usd), x.slippage_bps == null ? "–" : x.slippage_bps + " bp", usd(x.recovery_usd), usd(x.bad_debt_usd)]);
    table($("stress-reserves"), ["reserve", "price after", "collateral seized", "debt repaid", "slippage", "recovery", "bad debt"], rows.length ? rows : [["nothing liquidated", "", "", "", "", "", ""]]);

    const w = r.waterfall;
    $("waterfall-summary").textContent = `loss ${usd(w.loss_usd)} · USDS holders' haircut ${usd(w.usds_haircut_usd)} (${pct(w.usds_haircut_fraction, 4)})` + (num(w.unabsorbed_base) ? ` · unabsorbed ${usd(w.unabsorbed_usd)}` : "");
    const names = w.layers.map((l) => l.name);
    draw("waterfall", $("waterfall-chart"), {
      title: "absorbed by layer, in order",
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] } },
      axes: [{ values: (u, vals) => vals.map((v) => names[v] ?? ""), splits: () => names.map((_, i) => i) }, { values: usdAxis, size: 70 }],
      series: [{ label: "layer", value: (u, v) => names[v] ?? "" },
        { label: "absorbed (USD)", fill: "#fca5a5", stroke: "#dc2626", paths: barsPath(), points: { show: false }, value: (u, v) => usd(v) }],
    }, [names.map((_, i) => i), w.layers.map((l) => num(l.absorbed_usd))]);
    const trs = [];
    for (const l of w.layers) {
      const cap = num(l.capacity_base), abs = num(l.absorbed_base);
      trs.push([`${l.position}. ${l.name}`, usd(l.capacity_usd), usd(l.absorbed_usd), el("td", null, bar(cap ? abs / cap : 0, l.exhausted ? "hot" : "")), l.exhausted ? "exhausted" : ""]);
      for (const h of l.holders || []) if ((l.holders || []).length > 1) trs.push(["    " + h.name, usd(num(h.capacity_base) / 1e8), usd(h.absorbed_usd), "", ""]);
    }
    table($("waterfall-table"), ["layer", "capacity", "absorbed", "used", ""], trs);
  }

  // VaR is asked for on demand (10,000 paths take a few seconds on the server), not on load.
  async function runVar(ev) {
    ev.preventDefault();
    const key = sessionStorage.getItem(OPS_KEY);
    if (!key) return needsKey("var", "an ops key");
    const q = new URLSearchParams({ horizon: $("var-horizon").value, paths: $("var-paths").value, seed: $("var-seed").value || "1" });
    $("var-status").textContent = "computing…";
    $("var-run").disabled = true;
    try {
      const v = await api(`v1/risk/${state.chain}/var?${q}`, { key });
      const fmt = (x) => (x == null ? "–" : usdFmt.format(x));
      table($("var-table"), ["confidence", "VaR", "expected shortfall"], v.levels.map((l) => [pct(l.confidence, 1), fmt(l.var_usd), fmt(l.es_usd)])
        .concat([["mean", fmt(v.mean_loss_usd), ""], ["worst path", fmt(v.max_loss_usd), ""], ["no price move", usd(v.deterministic_loss_usd), ""]]));
      table($("var-assets"), ["asset", "volatility (annual)", "source", "samples"], v.assets.map((a) => [a.symbol, pct(a.volatility_annual, 1), a.source, a.samples ?? "–"]));
      $("var-status").textContent = `${v.paths} paths, horizon ${v.horizon}, seed ${v.seed}, model ${v.model} (estimate; block ${v.as_of.block_number})`;
      $("var").dataset.result = "ready";
    } catch (e) {
      $("var-status").textContent = e.message;
      $("var").dataset.result = "error";
    } finally {
      $("var-run").disabled = false;
    }
  }

  async function loadVaults() {
    const vaults = (await api("v1/savings/vaults")).data.filter((v) => v.chain_id === state.chain);
    const to = state.asOf ? state.asOf.block_timestamp : Math.floor(Date.now() / 1000);
    const from = to - 90 * 86400;
    const hist = await Promise.all(vaults.map((v) => all(`v1/savings/vaults/${v.chain_id}/${v.address}/history?interval=1d&from=${from}&to=${to}`, {}, 20)));
    const xs = [...new Set(hist.flat().map((h) => h.bucket_start_timestamp))].sort((a, b) => a - b);
    const col = (field, scale) => hist.map((h) => {
      const m = new Map(h.map((p) => [p.bucket_start_timestamp, num(p[field]) * scale]));
      return xs.map((x) => m.get(x) ?? null);
    });
    const series = (fmt) => [{}, ...vaults.map((v, i) => ({ label: v.symbol, stroke: palette[i % palette.length], width: 1.5, value: fmt, spanGaps: true }))];
    draw("vault_apy", $("vault-apy-chart"), { title: "APY (%)", series: series((u, v) => (v == null ? "–" : v.toFixed(3) + "%")), axes: [{}, { size: 60 }] }, [xs, ...col("apy", 100)]);
    draw("vault_price", $("vault-price-chart"), { title: "share price (assets per share)", series: series((u, v) => (v == null ? "–" : v.toFixed(6))), axes: [{}, { size: 70 }] }, [xs, ...col("share_price", 1)]);
  }

  async function loadRateLimits() {
    const rls = (await all("v1/liquidity-layer/rate-limits?limit=500", {}, 20)).filter((r) => r.chain_id === state.chain);
    // active limits by headroom (lowest first), then deactivated (max 0), then unlimited
    const rank = (r) => (r.status === "active" ? num(r.headroom_pct) : r.status === "deactivated" ? 1e6 : 2e6);
    rls.sort((a, b) => rank(a) - rank(b));
    const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });
    // token amounts in the key's asset; a key without an asset (a swap) counts in 18-decimal units
    const amount = (r, f) => (r.asset ? compact.format(num(r[f + "_human"])) + " " + r.asset.symbol : compact.format(num(r[f]) / 1e18));
    table($("ll-table"), ["key", "asset", "target", "current / max", "headroom", "refill / day", "full at"], rls.map((r) => {
      const active = r.status === "active";
      const h = num(r.headroom_pct);
      return [r.name, r.asset ? r.asset.symbol : "– (1e18 units)", r.target ? r.target.venue_label || r.target.address : "–",
        active ? `${amount(r, "current")} / ${amount(r, "max_amount")}` : r.status,
        el("td", null, active ? h.toFixed(1) + "% " : "–", active ? bar(h / 100, h < 20 ? "hot" : "") : null),
        active ? amount(r, "slope_per_day") : "–", active ? (r.seconds_until_full ? when(r.full_at) : "full") : r.status];
    }));
  }

  async function loadOracles(key) {
    const o = await api(`v1/oracles/${state.chain}`, { key });
    const ks = o.kill_switch;
    const st = $("ks-status");
    st.className = ks && ks.triggered ? "err" : "";
    if (!ks || !ks.known) st.textContent = "No kill switch imported for this chain.";
    else st.textContent = ks.triggered ? `Kill switch TRIGGERED (block ${ks.block_number}); froze: ${(ks.froze || []).map((f) => f.symbol).join(", ") || "–"}` : `Kill switch armed, not triggered (block ${ks.block_number}).`;
    table($("ks-table"), ["kill-switch oracle", "answer / threshold", "distance", ""], ks && ks.known ? ks.oracles.map((k) => [k.label || k.address, `${k.ratio} / ${k.threshold_ratio}`, pct(k.distance),
      el("td", null, bar(num(k.distance) / 0.2, num(k.distance) <= 0.01 ? "hot" : ""))]) : []);
    table($("oracle-table"), ["asset", "price", "source", "updated", "age (now)", "age at block", ""], o.assets.map((a) => [a.symbol, usd(a.price_usd), a.source, a.updated_at, age(a.age_seconds), age(a.age_at_block_seconds),
      el("td", { class: a.stale_at_block ? "err" : a.stale ? "warn" : "" }, a.stale_at_block ? "stale at block" : a.stale ? "stale now" : "fresh")]));
  }

  const LTV_STATES = ["healthy", "warning", "margin_call", "liquidation", "stale", "no_record"];
  const LTV_RANK = { liquidation: 0, margin_call: 1, stale: 2, warning: 3, healthy: 4 };
  let partnerCursor = null;

  // Partner LTV positions across partners (GET /v1/risk/partner-ltv, ops key): the counts of
  // every partner, then pages of positions (`more` fetches the next page with the cursor).
  async function loadPartner(key, more) {
    const q = more && partnerCursor ? `&cursor=${encodeURIComponent(partnerCursor)}` : "";
    const page = await api(`v1/risk/partner-ltv?limit=200${q}`, { key });
    const total = {};
    const rows = page.partners.map((p) => {
      for (const s of LTV_STATES) total[s] = (total[s] || 0) + p.states[s];
      return [p.name, String(p.positions), ...LTV_STATES.map((s) => el("td", { class: p.states[s] ? "state-" + s : "" }, String(p.states[s]))), p.not_recomputable ? el("td", { class: "err" }, String(p.not_recomputable)) : "0"];
    });
    table($("partner-summary"), ["partner", "positions", ...LTV_STATES.map((s) => s.replace("_", " ")), "not recomputable"], page.partners.length ? rows : [["no partners", "", "", "", "", "", "", "", ""]]);
    if (!more) state.partnerRows = [];
    const ps = page.positions.slice().sort((a, b) => (LTV_RANK[a.state] ?? 5) - (LTV_RANK[b.state] ?? 5) || (b.ltv_bps ?? -1) - (a.ltv_bps ?? -1));
    for (const p of ps) {
      const s = p.state || "no record";
      const th = p.thresholds;
      const st = p.staleness;
      state.partnerRows.push([p.partner, p.external_id, p.borrower, el("td", { class: "state-" + (p.state || "none") }, s.replace("_", " ")),
        p.ltv_bps == null ? "–" : p.ltv_bps === 4294967295 ? "∞" : (p.ltv_bps / 100).toFixed(2) + "%",
        `${th.warning_bps / 100}% / ${th.margin_call_bps / 100}% / ${th.liquidation_bps / 100}%`, usd(p.debt_value_usd), usd(p.weighted_collateral_value_usd),
        el("td", { class: st.stale ? "warn" : "" }, st.oldest_price_age_seconds == null ? "–" : `${age(st.oldest_price_age_seconds)} (max ${age(st.max_price_staleness_seconds)})`),
        p.record_as_of ? `${p.record_as_of} (${age(p.record_age_seconds)} ago)` : "–", p.cure_deadline || "–",
        p.not_recomputable ? el("td", { class: "err" }, p.not_recomputable.reason) : ""]);
    }
    table($("partner-table"), ["partner", "position", "borrower", "state", "LTV", "warning / margin call / liquidation", "debt", "weighted collateral", "oldest price", "record", "cure deadline", ""], state.partnerRows);
    partnerCursor = page.next_cursor;
    $("partner-more").hidden = !partnerCursor;
    const shown = state.partnerRows.length, all = page.partners.reduce((a, p) => a + p.positions, 0);
    $("partner-status").textContent = `${shown} of ${all} positions` + (total.margin_call || total.liquidation ? ` · ${total.margin_call} margin call, ${total.liquidation} liquidation` : "");
    $("partner").dataset.rows = String(shown);
  }

  // ---- wiring --------------------------------------------------------------------------------

  function keyState() {
    $("keystate").textContent = sessionStorage.getItem(OPS_KEY) ? "ops key set (this tab only)" : "no ops key: risk and oracle sections are hidden";
  }

  function loadKeyed() {
    const key = sessionStorage.getItem(OPS_KEY);
    const keyed = ["hf", "lar", "stress", "var", "oracles", "partner"];
    if (!key) {
      for (const s of keyed) needsKey(s, "an ops key");
      return;
    }
    for (const s of keyed) unlock(s);
    section("hf", () => loadHealthFactors(key));
    section("lar", () => loadLiquidationsAtRisk(key));
    section("oracles", () => loadOracles(key));
    section("partner", () => loadPartner(key, false));
  }

  async function loadAll() {
    $("errors").replaceChildren();
    await section("markets", loadMarkets);
    section("vaults", loadVaults);
    section("ll", loadRateLimits);
    loadKeyed();
  }

  async function start() {
    state.pending++; // held until the first round of loaders is started
    $("keyform").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("opskey").value.trim();
      $("opskey").value = "";
      if (v) sessionStorage.setItem(OPS_KEY, v);
      keyState();
      loadKeyed();
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(OPS_KEY);
      keyState();
      loadKeyed();
    });
    $("partner-more").addEventListener("click", () => {
      const key = sessionStorage.getItem(OPS_KEY);
      if (key) section("partner", () => loadPartner(key, true));
    });
    $("lar-metric").addEventListener("change", () => larData && drawLar());
    $("stress-form").addEventListener("submit", runStress);
    $("var-form").addEventListener("submit", runVar);
    $("chain").addEventListener("change", () => {
      state.chain = Number($("chain").value);
      for (const s of ["lar"]) $(s).dataset.state = "";
      $("stress-shocks").querySelector("tbody").replaceChildren();
      loadAll();
    });
    keyState();
    try {
      const markets = (await api("v1/markets")).data;
      $("chain").replaceChildren(...markets.map((m) => el("option", { value: m.chain_id, text: `${m.chain_id} · ${m.protocol}` })));
      if (!markets.length) throw new Error("no chain imported yet");
      state.chain = markets[0].chain_id;
      await loadAll();
    } catch (e) {
      showError("start", e.message);
      console.error(e);
    } finally {
      if (--state.pending === 0) document.body.dataset.state = "ready";
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
