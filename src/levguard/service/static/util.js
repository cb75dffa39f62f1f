/* levguard dashboard: DOM builders and number formats shared by app.js and charts.js.
 *
 * Plain JS, no framework.  Every value from the server goes through textContent or an SVG
 * attribute, never innerHTML; an unknown figure is shown as DASH, never "NaN" or "nan %".
 */
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATES = ["OK", "WARN", "DANGER", "ACT"];
  const DASH = "\u2014";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null) continue;
        if (k === "class") node.className = v;
        else node.setAttribute(k, String(v));
      }
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function isNum(x) {
    return typeof x === "number" && Number.isFinite(x);
  }

  function fmt(x, digits) {
    if (!isNum(x)) return DASH;
    return x.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function fmtQty(x) {
    if (!isNum(x)) return DASH;
    return x.toLocaleString(undefined, { maximumFractionDigits: 6 });
  }

  function pct(x, digits) {
    if (!isNum(x)) return DASH;
    return (x * 100).toFixed(digits === undefined ? 1 : digits) + " %";
  }

  /* A signed amount: "+1,234.50", "\u22121,234.50" (a real minus sign), DASH when unknown. */
  function fmtSigned(x, digits) {
    if (!isNum(x)) return DASH;
    const s = fmt(Math.abs(x), digits);
    if (Math.abs(x) < Math.pow(10, -digits) / 2) return fmt(0, digits);
    return (x < 0 ? "\u2212" : "+") + s;
  }

  /* Price-like numbers: two decimals above 100, more below (altcoins). */
  function fmtPrice(x) {
    if (!isNum(x)) return DASH;
    const a = Math.abs(x);
    return fmt(x, a >= 100 ? 2 : a >= 1 ? 4 : 6);
  }

  /* The horizon of P(liq): "1d", "7d", "12h". */
  function horizonLabel(days) {
    if (!isNum(days) || days <= 0) return "";
    if (days < 1) return Math.round(days * 24) + "h";
    return (Math.round(days * 100) / 100).toString() + "d";
  }

  function pliqHeader(days) {
    const h = horizonLabel(days);
    return h ? "P(liq " + h + ")" : "P(liq)";
  }

  /* A probability: "3.2 %", "< 0.1 %" for a tiny positive one, DASH when unknown. */
  function pliqText(x) {
    if (!isNum(x)) return DASH;
    if (x > 0 && x < 0.0005) return "< 0.1 %";
    return pct(x, 1);
  }

  function timeOf(tsNs) {
    if (!isNum(tsNs)) return DASH;
    const d = new Date(tsNs / 1e6);
    return d.toLocaleTimeString(undefined, { hour12: false });
  }

  function dateTimeOf(tsNs) {
    if (!isNum(tsNs)) return "";
    return new Date(tsNs / 1e6).toISOString();
  }

  function stateOf(s) {
    return STATES.includes(s) ? s : "NONE";
  }

  /* Axis from 0 to at least ``top`` in at most 5 steps of 1, 2, 2.5 or 5 times a power of ten. */
  function niceAxis(top) {
    const step = niceMax(top / 4);
    const n = Math.max(1, Math.ceil(top / step - 1e-9));
    const ticks = [];
    for (let i = 0; i <= n; i++) ticks.push(Math.round(i * step * 1e9) / 1e9);
    // Decimals the step needs (2.5 -> 1, 0.025 -> 3, 20 -> 0).
    let digits = 0;
    while (digits < 6 && Math.abs(step * Math.pow(10, digits) - Math.round(step * Math.pow(10, digits))) > 1e-9) digits++;
    return { max: n * step, ticks, digits };
  }

  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p;
    return 10 * p;
  }

  window.levguard = Object.freeze({
    DASH,
    STATES,
    el,
    svg,
    isNum,
    fmt,
    fmtQty,
    pct,
    fmtSigned,
    fmtPrice,
    horizonLabel,
    pliqHeader,
    pliqText,
    timeOf,
    dateTimeOf,
    stateOf,
    niceAxis,
    niceMax,
  });
})();
