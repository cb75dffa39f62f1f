/* levguard dashboard: plain JS, no framework, no external resources.
 *
 * Reads the REST API with a bearer token (kept in sessionStorage, sent in the Authorization
 * header only), listens to the Server-Sent Events stream for cycles and alerts (EventSource
 * cannot send headers: each connection first asks POST /api/stream-ticket for a single-use,
 * short-lived ticket and opens /api/events?ticket=...; every reconnection gets a new one), and
 * renders accounts, positions, alerts and orders; the charts are drawn by charts.js, the number
 * formats come from util.js.  Colour means danger: the WARN/DANGER/ACT states colour what they
 * concern; an OK position stays neutral.  Every value from the server goes through textContent
 * or an SVG attribute, never innerHTML.
 */
"use strict";

(function () {
  const TOKEN_KEY = "levguard.token";
  const { DASH, el, isNum, fmt, fmtQty, pct, fmtSigned, fmtPrice, pliqHeader, pliqText, timeOf, dateTimeOf, stateOf } =
    window.levguard;
  const MAX_ALERTS = 200;
  const MAX_ORDERS = 100;
  const SNAPSHOT_LIMIT = 400;
  const SHOCK = { drop: 0.2, ticks: 5 };
  // A unified account's ratio: its fields and the venues' names for it.
  const RATIO_KEYS = ["account_ratio", "account_ratio_name", "account_status", "venue_account_ratio"];
  const RATIO_NAMES = { uniMMR: "uniMMR", account_mm_rate: "Account MM rate", margin_ratio: "Margin ratio" };

  const ui = {};
  const app = {
    token: null,
    accounts: [], // rows of /api/accounts
    reports: {}, // account -> last cycle report (from positions or the stream)
    selected: null, // account shown in the positions table and the chart
    snapshots: {}, // account -> snapshots (oldest first)
    alerts: [], // newest first
    killSwitch: false,
    paper: {}, // account -> true when the shock route is available for it
    extras: {}, // account -> the last /positions answer's account fields (horizon, thresholds, balances)
    source: null,
    streamGen: 0, // bumped by every start and stop: a ticket that arrives late opens nothing
    retryMs: 1000,
    retryTimer: null,
    timers: {},
  };

  // ------------------------------------------------------------------ helpers

  function $(id) {
    return document.getElementById(id);
  }

  function badge(state) {
    const s = stateOf(state);
    return el("span", { class: "badge state-" + s.toLowerCase(), "data-state": s }, state || DASH);
  }

  function debounce(name, ms, fn) {
    if (app.timers[name]) return;
    app.timers[name] = setTimeout(() => {
      app.timers[name] = null;
      fn();
    }, ms);
  }

  function say(text, kind) {
    const box = ui.message;
    box.textContent = text;
    box.dataset.kind = kind || "info";
    box.hidden = !text;
    clearTimeout(app.timers.message);
    if (text && kind !== "error") app.timers.message = setTimeout(() => (box.hidden = true), 6000);
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json", Authorization: "Bearer " + app.token };
    const init = { method: opts.method || "GET", headers, cache: "no-store" };
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    const res = await fetch(path, init);
    let body = null;
    const text = await res.text();
    if (text) {
      try {
        body = JSON.parse(text);
      } catch (_) {
        body = text;
      }
    }
    if (!res.ok) {
      const msg = body && typeof body === "object" && body.error ? body.error : res.status + " " + res.statusText;
      throw new ApiError(res.status, msg);
    }
    return body;
  }

  function enc(name) {
    return encodeURIComponent(name);
  }

  // ------------------------------------------------------------------ sign-in

  function showLogin(error) {
    stopStream();
    ui.dashboard.hidden = true;
    ui.logout.hidden = true;
    ui.loginError.textContent = error || "";
    ui.loginError.hidden = !error;
    if (!ui.login.open) {
      if (typeof ui.login.showModal === "function") ui.login.showModal();
      else ui.login.setAttribute("open", "");
    }
    ui.tokenInput.focus();
  }

  async function signIn(token) {
    app.token = token;
    try {
      await api("/api/accounts");
    } catch (err) {
      app.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(err.status === 401 ? "This token is not valid." : "Cannot reach the service: " + err.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    if (ui.login.open) ui.login.close();
    ui.login.removeAttribute("open");
    ui.dashboard.hidden = false;
    ui.logout.hidden = false;
    await loadAll();
    startStream();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    app.token = null;
    ui.tokenInput.value = "";
    showLogin("");
  }

  function authFailed(err) {
    if (err && err.status === 401) {
      signOut();
      showLogin("The token was rejected (revoked?). Sign in again.");
      return true;
    }
    return false;
  }

  // ------------------------------------------------------------------ loading

  async function loadAll() {
    await Promise.all([loadAccounts(), loadStatus(), loadAlerts(), loadOrders()]);
    if (app.selected) await Promise.all([loadPositions(app.selected), loadSnapshots(app.selected)]);
  }

  async function loadAccounts() {
    try {
      app.accounts = (await api("/api/accounts")) || [];
    } catch (err) {
      if (!authFailed(err)) say("accounts: " + err.message, "error");
      return;
    }
    for (const a of app.accounts) {
      if (!app.reports[a.name]) app.reports[a.name] = { account: a.name, status: a.status, state: a.state };
    }
    if (!app.selected || !app.accounts.some((a) => a.name === app.selected)) {
      app.selected = app.accounts.length ? app.accounts[0].name : null;
    }
    renderAccounts();
    await detectPaper();
  }

  /* GET `path` and hand the answer to `use`; a failure (but a rejected token, which signs out, and
     a 404) is said as "<what>: <message>". */
  async function load(what, path, use) {
    try {
      await use(await api(path));
    } catch (err) {
      if (!authFailed(err) && err.status !== 404) say(what + ": " + err.message, "error");
    }
  }

  /* The rows of an answer: the answer itself when a list, else its `key` list (a page: {items, next}). */
  function rowsOf(answer, key) {
    return Array.isArray(answer) ? answer : (answer && answer[key]) || [];
  }

  async function loadStatus() {
    await load("status", "/api/status", (status) => {
      if (!status || typeof status !== "object") return;
      const ks = status.kill_switch;
      let on = false;
      if (typeof ks === "boolean") on = ks;
      else if (ks && typeof ks === "object") on = Boolean(ks.global !== undefined ? ks.global : ks.on);
      else if (typeof status.global_kill_switch === "boolean") on = status.global_kill_switch;
      setKillSwitch(on);
      if (isNum(status.cycles)) {
        app.cycleCount = status.cycles;
        ui.cycles.textContent = app.cycleCount + " cycles";
      }
    });
  }

  async function loadPositions(name) {
    await load("positions", "/api/accounts/" + enc(name) + "/positions", (rows) => {
      const positions = rowsOf(rows, "positions");
      app.reports[name] = Object.assign({}, app.reports[name] || { account: name }, { positions });
      if (rows && !Array.isArray(rows)) {
        app.extras[name] = rows;
        // The account's balances of this (fresher) answer, for its card.
        const acc = app.accounts.find((a) => a.name === name);
        if (acc && rows.margin) {
          for (const k of ["settlement", "equity", "wallet_balance", "unrealized_pnl", "margin_balance", "margin_ratio", ...RATIO_KEYS]) {
            if (k in rows) acc[k] = rows[k];
          }
        }
      }
      renderAccounts();
      renderPositions();
      if (name === app.selected) renderDistChart();
    });
  }

  async function loadSnapshots(name) {
    await load("snapshots", "/api/accounts/" + enc(name) + "/snapshots?limit=" + SNAPSHOT_LIMIT, (rows) => {
      app.snapshots[name] = rowsOf(rows, "snapshots");
      if (name === app.selected) {
        renderChart();
        renderDistChart();
      }
    });
  }

  async function loadAlerts() {
    await load("alerts", "/api/alerts?limit=" + MAX_ALERTS, (page) => {
      app.alerts = rowsOf(page, "items");
      renderAlerts();
    });
  }

  async function loadOrders() {
    await load("orders", "/api/orders?limit=" + MAX_ORDERS, (page) => renderOrders(rowsOf(page, "items")));
  }

  /* The shock button is for paper accounts only: the account rows carry a `paper` flag. */
  async function detectPaper() {
    for (const a of app.accounts) app.paper[a.name] = a.paper === true;
    renderAccounts();
    renderShock();
  }

  // ------------------------------------------------------------------ live stream

  function setConn(state, text) {
    ui.conn.dataset.state = state;
    ui.conn.textContent = text || state;
  }

  async function startStream() {
    stopStream();
    if (!app.token || typeof EventSource === "undefined") {
      setConn("offline", "polling");
      app.timers.poll = setInterval(() => loadAll(), 5000);
      return;
    }
    setConn("connecting", "connecting…");
    const gen = ++app.streamGen;
    let ticket;
    try {
      ticket = (await api("/api/stream-ticket", { method: "POST" })).ticket;
    } catch (err) {
      if (gen !== app.streamGen || authFailed(err)) return;
      setConn("offline", "reconnecting…");
      scheduleReconnect();
      return;
    }
    if (gen !== app.streamGen || !app.token) return; // stopped or restarted meanwhile
    const source = new EventSource("/api/events?ticket=" + enc(ticket));
    app.source = source;
    let opened = false;
    source.onopen = () => {
      setConn("live", "live");
      app.retryMs = 1000;
      if (opened) loadAll(); // fill what was missed while disconnected
      opened = true;
    };
    source.addEventListener("cycle", (ev) => onCycle(parse(ev)));
    source.addEventListener("alert", (ev) => onAlert(parse(ev)));
    source.addEventListener("control", (ev) => onControl(parse(ev)));
    source.addEventListener("message", (ev) => {
      const msg = parse(ev);
      if (msg && msg.kind === "cycle") onCycle(msg.data);
      else if (msg && msg.kind === "alert") onAlert(msg.data);
      else if (msg && msg.kind === "control") onControl(msg.data);
    });
    source.onerror = () => {
      // The ticket was spent on this connection: the browser's own retry would be refused, so
      // reconnect ourselves, with back-off, with a new ticket (and reload what was missed).
      setConn("offline", "reconnecting…");
      source.close();
      if (app.source === source) app.source = null;
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    clearTimeout(app.retryTimer);
    const wait = app.retryMs;
    app.retryMs = Math.min(app.retryMs * 2, 30000);
    app.retryTimer = setTimeout(async () => {
      if (!app.token) return;
      try {
        await api("/api/accounts");
      } catch (err) {
        if (authFailed(err)) return;
        scheduleReconnect();
        return;
      }
      await loadAll();
      startStream();
    }, wait);
  }

  function stopStream() {
    app.streamGen += 1;
    clearTimeout(app.retryTimer);
    clearInterval(app.timers.poll);
    if (app.source) app.source.close();
    app.source = null;
    setConn("offline", "offline");
  }

  function parse(ev) {
    try {
      return JSON.parse(ev.data);
    } catch (_) {
      return null;
    }
  }

  function onCycle(data) {
    const reports = Array.isArray(data) ? data : data && Array.isArray(data.reports) ? data.reports : [];
    let acted = false;
    for (const r of reports) {
      if (!r || !r.account) continue;
      const prev = app.reports[r.account] || {};
      // A stale or disabled cycle has no positions: keep the last known ones, mark the status.
      app.reports[r.account] = r.positions ? withExtras(r, prev) : Object.assign({}, prev, { status: r.status, reason: r.reason });
      for (const p of r.positions || []) {
        if (p.action && !p.action.skipped) acted = true;
      }
      if (!app.accounts.some((a) => a.name === r.account)) debounce("accounts", 500, loadAccounts);
    }
    app.cycleCount = (app.cycleCount || 0) + 1;
    renderAccounts();
    renderPositions();
    debounce("snapshots", 1000, () => app.selected && loadSnapshots(app.selected));
    // Entry, uPnL and the balances come from the margin report: refreshed at most every 2 s (the
    // positions route is rate limited per token).
    debounce("positions", app.qtyChanged ? 300 : 2000, () => app.selected && loadPositions(app.selected));
    app.qtyChanged = false;
    debounce("balances", 5000, loadAccounts);
    debounce("status", 3000, loadStatus);
    if (acted) debounce("orders", 300, loadOrders);
  }

  /* A cycle report's positions with the fields of the last /positions answer it lacks (side,
   * entry, uPnL, horizon: refreshed by the next load). */
  function withExtras(report, prev) {
    const known = new Map((prev.positions || []).map((p) => [p.symbol, p]));
    const positions = report.positions.map((p) => {
      const old = known.get(p.symbol);
      const out = Object.assign({}, p);
      const same = old && old.qty === p.qty;
      if (old && !same) app.qtyChanged = true;
      for (const k of ["side", "entry_price", "horizon_days"].concat(same ? ["unrealized_pnl", "notional", "margin"] : [])) {
        if (out[k] === undefined && old && old[k] !== undefined) out[k] = old[k];
      }
      // The uPnL of the previous mark until the next load: shown as such.
      if (same && isNum(old.mark) && old.mark !== p.mark && out.unrealized_pnl !== undefined) out.pnlStale = true;
      if (!out.side && isNum(p.qty)) out.side = p.qty < 0 ? "short" : "long";
      return out;
    });
    return Object.assign({}, report, { positions });
  }

  function onAlert(alert) {
    if (!alert || typeof alert !== "object") return;
    // A reconnect replays recent events that a reload of the list may already hold.
    const key = (a) => [a.account, a.ts_ns, a.kind, a.message].join("|");
    const k = key(alert);
    if (app.alerts.slice(0, 100).some((a) => key(a) === k)) return;
    app.alerts.unshift(alert);
    if (app.alerts.length > MAX_ALERTS) app.alerts.length = MAX_ALERTS;
    renderAlerts();
    if (alert.kind === "action") debounce("orders", 300, loadOrders);
  }

  /* Changes made through the API (by this page or another client). */
  function onControl(data) {
    if (!data || typeof data !== "object") return;
    if (data.kind === "kill_switch" && !data.account && typeof data.on === "boolean") setKillSwitch(data.on);
    else debounce("accounts", 200, loadAccounts);
    if (data.kind === "ack") debounce("alerts", 200, loadAlerts);
  }

  // ------------------------------------------------------------------ rendering

  function renderAccounts() {
    const box = ui.accounts;
    if (!startList(box, app.accounts, el("p", { class: "muted" }, "no accounts"))) return;
    for (const a of app.accounts) {
      const r = app.reports[a.name] || {};
      const state = r.state || a.state;
      const card = el("button", {
        type: "button",
        class: "account" + (a.name === app.selected ? " selected" : ""),
        "data-account": a.name,
        "data-state": stateOf(state),
        "aria-pressed": a.name === app.selected ? "true" : "false",
      });
      const head = el("span", { class: "account-head" });
      head.append(el("strong", null, a.name), badge(state));
      const meta = el("span", { class: "account-meta" });
      meta.append(el("span", null, a.venue || ""));
      meta.append(el("span", { class: "tag" + (a.live_enabled ? " tag-live" : "") }, a.live_enabled ? "live" : "dry run"));
      if (app.paper[a.name]) meta.append(el("span", { class: "tag" }, "paper"));
      if (a.kill_switch) meta.append(el("span", { class: "tag tag-kill" }, "kill switch"));
      const status = r.status || a.status;
      if (status && status !== "ok") {
        // partial: positions of another wallet left out, which nobody protects (r.reason names them).
        const lo = (r.left_out || []).length;
        meta.append(el("span", { class: "tag tag-warn", title: r.reason || "" }, lo ? status + ": " + lo + " unguarded" : status));
      }
      const n = (r.positions || []).length;
      meta.append(el("span", { class: "muted" }, n + (n === 1 ? " position" : " positions")));
      card.append(head, meta, accountFigures(a, r));
      card.addEventListener("click", () => select(a.name));
      box.append(card);
    }
    if (isNum(app.cycleCount)) ui.cycles.textContent = app.cycleCount + " cycles";
  }

  /* Equity, wallet balance, margin balance and uPnL of an account (neutral: money is not danger);
   * a unified account's ratio under its venue's name (the last cycle's, else the account row's),
   * with the venue's own figure in its title. */
  function accountFigures(a, r) {
    const lending = lendingPosition(r);
    if (lending) return lendingFigures(r, lending);
    const cur = a.settlement ? " " + a.settlement : "";
    const figs = el("dl", { class: "figs" });
    const add = (field, label, text, title) => {
      const box = el("div", { class: "fig", "data-field": field, title: title || null });
      box.append(el("dt", null, label), el("dd", null, text));
      figs.append(box);
    };
    add("equity", "Equity", fmt(a.equity, 2) + (isNum(a.equity) ? cur : ""), "cross wallet + isolated margins + unrealised PnL");
    add("wallet_balance", "Wallet", fmt(a.wallet_balance, 2), "wallet balance: deposits, fees and realised PnL");
    add("margin_balance", "Margin bal.", fmt(a.margin_balance, 2), "wallet balance + unrealised PnL");
    add("unrealized_pnl", "uPnL", fmtSigned(a.unrealized_pnl, 2), "unrealised PnL at the last marks");
    const src = r && r.account_ratio_name ? r : a;
    const name = src.account_ratio_name;
    if (name) {
      const venue = isNum(src.venue_account_ratio) ? "; the venue reports " + ratioText(src.venue_account_ratio) : "";
      const status = src.account_status ? " (" + src.account_status + ")" : "";
      add("account_ratio", RATIO_NAMES[name] || name, ratioText(src.account_ratio), "levguard's " + name + status + venue);
    }
    return figs;
  }

  /* The position of an on-chain lending account (Aave, Morpho): its report's row with a health
   * factor and collateral and debt values; null for an exchange account. */
  function lendingPosition(r) {
    const p = r && r.positions && r.positions.length === 1 ? r.positions[0] : null;
    return p && "health_factor" in p && "debt_value" in p ? p : null;
  }

  /* A lending account's health factor (levguard's, with the protocol's own in its title), its
   * collateral and debt at the oracle's prices, and the health factor its actions restore. */
  function lendingFigures(r, p) {
    const figs = el("dl", { class: "figs" });
    const add = (field, label, text, title) => {
      const box = el("div", { class: "fig", "data-field": field, title: title || null });
      box.append(el("dt", null, label), el("dd", null, text));
      figs.append(box);
    };
    const unit = p.value_unit ? " " + p.value_unit : "";
    const hf = isNum(r.health_factor) ? r.health_factor : p.health_factor;
    const chain = isNum(p.chain_health_factor) ? "; the protocol reports " + fmt(p.chain_health_factor, 4) : "";
    const block = isNum(r.block) ? " at block " + r.block : "";
    add("health_factor", "Health factor", isNum(hf) ? fmt(hf, 4) : "\u221e", "levguard's health factor" + block + chain + " (liquidatable below 1)");
    add("collateral_value", "Collateral", fmt(p.collateral_value, 2) + unit, "collateral at the oracle's prices");
    add("debt_value", "Debt", fmt(p.debt_value, 2) + unit, "debt at the oracle's prices");
    add("target_hf", "Target HF", isNum(p.target_hf) ? fmt(p.target_hf, 2) : DASH, "the health factor the guardian's actions restore");
    return figs;
  }

  /* A ratio as a percentage with thousands separators ("30,831.10 %"). */
  function ratioText(x) {
    return isNum(x) ? fmt(x * 100, 2) + " %" : DASH;
  }

  function select(name) {
    if (name === app.selected) return;
    app.selected = name;
    renderAccounts();
    renderPositions();
    renderChart();
    renderDistChart();
    renderShock();
    loadPositions(name);
    loadSnapshots(name);
  }

  function distanceBar(p) {
    const state = stateOf(p.state).toLowerCase();
    const wrap = el("div", { class: "dist", title: "distance to liquidation: " + pct(p.distance, 2) });
    const track = el("div", { class: "dist-track" });
    const fill = el("div", { class: "dist-fill fill-" + state });
    // Full bar at 50 % from the mark (no liquidation price: full).
    const frac = isNum(p.distance) ? Math.max(0, Math.min(1, p.distance / 0.5)) : p.distance === null ? 1 : 0;
    fill.style.width = (frac * 100).toFixed(1) + "%";
    track.append(fill);
    wrap.append(track, el("span", { class: "dist-label danger-fig" }, isNum(p.distance) ? pct(p.distance, 1) : "none"));
    return wrap;
  }

  function pliqCell(x, horizon) {
    const label = pliqHeader(horizon);
    const td = el("td", { class: "num pliq", "data-label": label, title: isNum(x) ? label + " " + pct(x, 3) : label + ": unknown (no volatility yet)" });
    td.append(el("span", { class: "pliq-val danger-fig" }, pliqText(x)));
    return td;
  }

  function renderPositions() {
    const tbody = ui.positions.tBodies[0];
    const r = app.selected ? app.reports[app.selected] || {} : {};
    ui.positionsAccount.textContent = app.selected ? "· " + app.selected : "";
    const rows = (r.positions || []).slice().sort((a, b) => String(a.symbol).localeCompare(String(b.symbol)));
    const extras = (app.selected && app.extras[app.selected]) || {};
    const horizon = isNum(extras.horizon_days) ? extras.horizon_days : rows.length ? rows[0].horizon_days : undefined;
    ui.thPliq.textContent = pliqHeader(horizon);
    if (!startList(tbody, rows, emptyRow(14, app.selected ? "no positions" : "no account"))) return;
    for (const p of rows) {
      const state = stateOf(p.state);
      const tr = el("tr", { "data-symbol": p.symbol, "data-state": state, class: "row-" + state.toLowerCase() });
      const over = isNum(p.leverage) && isNum(p.target_leverage) && p.leverage > p.target_leverage * 1.0001;
      const lev = el("td", { class: "num leverage" + (over ? " over" : ""), "data-label": "Leverage", title: over ? "above the target" : null });
      const levVal = el("span", { class: "lev-val danger-fig" }, isNum(p.leverage) ? fmt(p.leverage, 2) + "x" : DASH);
      if (over) levVal.append(el("span", { class: "over-mark", "aria-hidden": "true" }, " \u25B4"));
      lev.append(levVal);
      const bar = el("td", { class: "bar-col", "data-label": "Distance" });
      bar.append(distanceBar(p));
      const st = el("td", { class: "state-col", "data-label": "State" });
      st.append(badge(p.state));
      const side = p.side || (isNum(p.qty) ? (p.qty < 0 ? "short" : "long") : "");
      const sideCell = el("td", { class: "side", "data-label": "Side" });
      sideCell.append(el("span", { class: "side-tag", "data-side": side }, side || DASH));
      const pnl = el(
        "td",
        {
          class: "num upnl" + (p.pnlStale ? " stale" : ""),
          "data-label": "uPnL",
          title: p.pnlStale ? "at the previous mark (refreshing)" : null,
        },
        fmtSigned(p.unrealized_pnl, 2)
      );
      tr.append(
        el("td", { class: "sym", "data-label": "Symbol" }, p.symbol),
        sideCell,
        el("td", { class: "num qty", "data-label": "Qty" }, fmtQty(Math.abs(p.qty))),
        el("td", { class: "num entry", "data-label": "Entry" }, fmtPrice(p.entry_price)),
        el("td", { class: "num mark", "data-label": "Mark" }, fmtPrice(p.mark)),
        pnl,
        el("td", { class: "num liq", "data-label": "Liq. price" }, fmtPrice(p.liquidation_price)),
        bar,
        pliqCell(p.p_liq, isNum(p.horizon_days) ? p.horizon_days : horizon),
        lev,
        el("td", { class: "num target", "data-label": "Target" }, isNum(p.target_leverage) ? fmt(p.target_leverage, 2) + "x" : DASH),
        el("td", { class: "num xwide", "data-label": "Margin ratio" }, isNum(p.margin_ratio) ? fmt(p.margin_ratio, 3) : DASH),
        el("td", { class: "xwide muted binding", "data-label": "Binding" }, p.binding_constraint || ""),
        st
      );
      tbody.append(tr);
    }
  }

  /* Empty `box` for a fresh list of `items`: true when there are any, else false with `placeholder`
     shown instead. */
  function startList(box, items, placeholder) {
    box.replaceChildren();
    if (items.length) return true;
    box.append(placeholder);
    return false;
  }

  function emptyRow(cols, text) {
    const tr = el("tr", { class: "empty" });
    tr.append(el("td", { colspan: cols }, text));
    return tr;
  }

  function levelClass(level) {
    const l = String(level || "info").toLowerCase();
    if (l === "critical" || l === "error") return "critical";
    if (l === "warning" || l === "warn") return "warning";
    return "info";
  }

  function renderAlerts() {
    const list = ui.alerts;
    if (!startList(list, app.alerts, el("li", { class: "empty muted" }, "no alerts"))) return;
    for (const a of app.alerts) {
      const level = levelClass(a.level);
      const data = a.data || {};
      const li = el("li", {
        class: "alert level-" + level,
        "data-level": a.level || "info",
        "data-kind": a.kind || "",
        "data-state": data.state || null,
        "data-account": a.account || null,
      });
      const head = el("div", { class: "alert-head" });
      head.append(
        el("time", { datetime: dateTimeOf(a.ts_ns) }, timeOf(a.ts_ns)),
        el("span", { class: "lvl" }, a.level || "info"),
        el("span", { class: "kind" }, a.kind || "")
      );
      if (data.state) head.append(badge(data.state));
      if (a.account) head.append(el("span", { class: "muted" }, a.account));
      li.append(head, el("div", { class: "alert-msg" }, a.message || ""));
      list.append(li);
    }
  }

  function renderOrders(orders) {
    const tbody = ui.orders.tBodies[0];
    if (!startList(tbody, orders, emptyRow(9, "no orders"))) return;
    for (const o of orders) {
      const tr = el("tr", {
        "data-order": o.client_order_id,
        "data-symbol": o.symbol,
        "data-side": o.side,
        "data-status": o.status,
      });
      const status = el("td", { "data-label": "Status" });
      status.append(el("span", { class: "status status-" + String(o.status || "").toLowerCase() }, o.status));
      const ts = o.result_ns || o.sent_ns || o.intent_ns;
      tr.append(
        el("td", { title: dateTimeOf(ts), "data-label": "Time" }, timeOf(ts)),
        el("td", { "data-label": "Account" }, o.account),
        el("td", { class: "sym", "data-label": "Symbol" }, o.symbol),
        el("td", { class: "side-" + o.side, "data-label": "Side" }, o.side),
        el("td", { class: "num", "data-label": "Qty" }, fmtQty(o.qty)),
        el("td", { class: "num", "data-label": "Filled" }, fmtQty(o.filled)),
        el("td", { class: "num opt", "data-label": "Avg. price" }, fmt(o.average_price, 2)),
        status,
        el("td", { class: "opt reason", "data-label": "Reason" }, o.reason || "")
      );
      tbody.append(tr);
    }
  }

  function renderChart() {
    ui.chartAccount.textContent = app.selected ? "· " + app.selected : "";
    const snaps = (app.selected && app.snapshots[app.selected]) || [];
    window.levguardCharts.leverageChart(ui.chart, ui.chartLegend, snaps);
  }

  function renderDistChart() {
    ui.distAccount.textContent = app.selected ? "· " + app.selected : "";
    const snaps = (app.selected && app.snapshots[app.selected]) || [];
    const extras = (app.selected && app.extras[app.selected]) || {};
    const limits = (extras.thresholds && extras.thresholds.distance) || [];
    window.levguardCharts.distanceChart(ui.distChart, ui.distLegend, snaps, limits);
  }


  // ------------------------------------------------------------------ controls

  function setKillSwitch(on) {
    app.killSwitch = Boolean(on);
    const b = ui.killSwitch;
    b.disabled = false;
    b.dataset.on = app.killSwitch ? "true" : "false";
    b.setAttribute("aria-pressed", app.killSwitch ? "true" : "false");
    b.textContent = app.killSwitch ? "kill switch: ON" : "kill switch: off";
    document.body.classList.toggle("killed", app.killSwitch);
  }

  async function toggleKillSwitch() {
    const turnOn = !app.killSwitch;
    const question = turnOn
      ? "Turn the global kill switch ON? The guardian will send no more orders on any account."
      : "Turn the global kill switch off? The guardian may send orders again.";
    if (!window.confirm(question)) return;
    ui.killSwitch.disabled = true;
    try {
      const res = await api("/api/kill-switch", { method: "POST", body: { on: turnOn } });
      const on = res && typeof res.on === "boolean" ? res.on : turnOn;
      setKillSwitch(on);
      say(on ? "Kill switch is ON: no more orders." : "Kill switch is off.", on ? "warn" : "info");
      loadStatus();
    } catch (err) {
      ui.killSwitch.disabled = false;
      if (!authFailed(err)) say("kill switch: " + err.message, "error");
    }
  }

  function renderShock() {
    const show = Boolean(app.selected && app.paper[app.selected]);
    ui.shock.hidden = !show;
    if (show) {
      ui.shock.dataset.account = app.selected;
      ui.shock.title = "demo: drop the price of " + shockSymbol() + " by " + SHOCK.drop * 100 + " % over " + SHOCK.ticks + " ticks (paper account " + app.selected + "); asks first";
    }
  }

  function shockSymbol() {
    const r = app.reports[app.selected] || {};
    const p = (r.positions || [])[0];
    return p ? p.symbol : "BTCUSDT";
  }

  /* The shock asks first: a dialog naming the account, the symbol and the size (Cancel / Confirm). */
  function askShock() {
    const name = app.selected;
    if (!name) return;
    const symbol = shockSymbol();
    const size = "\u2212" + SHOCK.drop * 100 + " % over " + SHOCK.ticks + " ticks";
    ui.shockAccount.textContent = name;
    ui.shockSymbol.textContent = symbol;
    ui.shockSize.textContent = size;
    ui.shockText.textContent =
      "The paper venue's " + symbol + " price drops by " + SHOCK.drop * 100 + " % on " + name + "; the guardian reacts as it would to a real crash.";
    const dlg = ui.shockDialog;
    dlg.dataset.account = name;
    dlg.dataset.symbol = symbol;
    if (typeof dlg.showModal === "function") dlg.showModal();
    else dlg.setAttribute("open", "");
    ui.shockCancel.focus();
  }

  function closeShock() {
    const dlg = ui.shockDialog;
    if (dlg.open && typeof dlg.close === "function") dlg.close();
    dlg.removeAttribute("open");
  }

  async function confirmShock() {
    const dlg = ui.shockDialog;
    const name = dlg.dataset.account;
    const symbol = dlg.dataset.symbol;
    closeShock();
    if (name) await shock(name, symbol);
  }

  async function shock(name, symbol) {
    ui.shock.disabled = true;
    try {
      await api("/api/paper/" + enc(name) + "/shock", { method: "POST", body: { symbol, drop: SHOCK.drop, ticks: SHOCK.ticks } });
      say("Shock sent: " + symbol + " \u2212" + SHOCK.drop * 100 + " % over " + SHOCK.ticks + " ticks on " + name + ".", "info");
    } catch (err) {
      if (!authFailed(err)) say("shock: " + err.message, "error");
    } finally {
      ui.shock.disabled = false;
    }
  }

  // ------------------------------------------------------------------ start

  function init() {
    for (const [key, id] of Object.entries({
      message: "message",
      login: "login",
      tokenForm: "token-form",
      tokenInput: "token-input",
      loginError: "login-error",
      dashboard: "dashboard",
      logout: "logout",
      conn: "conn",
      cycles: "cycles",
      killSwitch: "kill-switch",
      shock: "shock",
      accounts: "accounts",
      positions: "positions",
      positionsAccount: "positions-account",
      chart: "chart",
      distChart: "dist-chart",
      distLegend: "dist-legend",
      distAccount: "dist-account",
      thPliq: "th-pliq",
      shockDialog: "shock-dialog",
      shockText: "shock-text",
      shockAccount: "shock-account",
      shockSymbol: "shock-symbol",
      shockSize: "shock-size",
      shockCancel: "shock-cancel",
      shockConfirm: "shock-confirm",
      chartLegend: "chart-legend",
      chartAccount: "chart-account",
      alerts: "alerts",
      orders: "orders",
    })) {
      ui[key] = $(id);
    }
    ui.tokenForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const token = ui.tokenInput.value.trim();
      if (token) signIn(token);
    });
    ui.login.addEventListener("cancel", (ev) => ev.preventDefault()); // no dashboard without a token
    ui.logout.addEventListener("click", signOut);
    ui.killSwitch.addEventListener("click", toggleKillSwitch);
    ui.shock.addEventListener("click", askShock);
    ui.shockCancel.addEventListener("click", closeShock);
    ui.shockConfirm.addEventListener("click", confirmShock);
    window.addEventListener("resize", () =>
      debounce("resize", 200, () => {
        renderChart();
        renderDistChart();
      })
    );
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved);
    else showLogin("");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
