/* levguard dashboard: the charts of the snapshot history, drawn as inline SVG at the box's own
 * width (redrawn on resize, so that the labels keep their size).  No style attributes in markup:
 * the page's Content-Security-Policy allows the stylesheet only.  Colour means danger: the series
 * take neutral hues; only the WARN / DANGER / ACT thresholds are drawn in the states' colours.
 */
"use strict";

(function () {
  const { el, svg, isNum, fmt, pct, timeOf, niceAxis } = window.levguard;
  const SERIES_COLOURS = ["#3b82f6", "#a855f7", "#14b8a6", "#f59e0b", "#ec4899", "#84cc16"];

  /* An empty SVG at the box's own width (redrawn on resize, so that the labels keep their size). */
  function chartFrame(box, snaps, left) {
    const W = Math.round(Math.max(300, Math.min(1000, box.clientWidth || 640)));
    const H = W < 500 ? 200 : 240;
    const m = { l: left, r: 12, t: 12, b: 26 };
    const root = svg("svg", {
      viewBox: "0 0 " + W + " " + H,
      preserveAspectRatio: "xMidYMid meet",
      class: "chart-svg",
      "data-points": snaps.length,
    });
    box.append(root);
    return { W, H, m, root };
  }

  function emptyChart(f, text) {
    f.root.append(svg("text", { x: f.W / 2, y: f.H / 2, "text-anchor": "middle", class: "axis-label" }, text));
  }

  /* The time span of [[t, v]] points (widened by a second either side when it is one instant). */
  function timeSpan(all) {
    let t0 = Math.min(...all.map((d) => d[0]));
    let t1 = Math.max(...all.map((d) => d[0]));
    if (t1 === t0) {
      t0 -= 1e9;
      t1 += 1e9;
    }
    return [t0, t1];
  }

  /* Horizontal grid lines at the axis ticks, labelled by ``label(v)``, and the first and last times. */
  function drawGrid(f, axis, y, label, t0, t1) {
    const { W, H, m } = f;
    const grid = svg("g", { class: "grid" });
    for (const v of axis.ticks) {
      grid.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
      grid.append(svg("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis-label" }, label(v)));
    }
    grid.append(svg("text", { x: m.l, y: H - 6, class: "axis-label" }, timeOf(t0)));
    grid.append(svg("text", { x: W - m.r, y: H - 6, "text-anchor": "end", class: "axis-label" }, timeOf(t1)));
    f.root.append(grid);
  }

  function polylinePoints(pts, x, y) {
    return pts.map((d) => x(d[0]).toFixed(1) + "," + y(d[1]).toFixed(1)).join(" ");
  }

  function legendItem(legend, colour, text) {
    const item = el("span", { class: "legend-item" });
    const sw = el("span", { class: "swatch" });
    sw.style.background = colour;
    item.append(sw, el("span", null, text));
    legend.append(item);
  }

  /* Leverage (solid) and target (dashed) per symbol over the snapshot history. */
  function leverageChart(box, legend, snaps) {
    box.replaceChildren();
    legend.replaceChildren();
    const series = new Map(); // symbol -> {lev: [[t, v]], tgt: [[t, v]]}
    for (const s of snaps) {
      const t = s.ts_ns;
      const positions = (s.figures && s.figures.positions) || [];
      for (const p of positions) {
        if (!series.has(p.symbol)) series.set(p.symbol, { lev: [], tgt: [] });
        const ser = series.get(p.symbol);
        if (isNum(p.leverage)) ser.lev.push([t, p.leverage]);
        if (isNum(p.target_leverage)) ser.tgt.push([t, p.target_leverage]);
      }
    }
    const f = chartFrame(box, snaps, 44);
    const { W, H, m, root } = f;
    const all = [];
    for (const ser of series.values()) all.push(...ser.lev, ...ser.tgt);
    if (all.length < 1) {
      emptyChart(f, "no history yet");
      return;
    }
    const [t0, t1] = timeSpan(all);
    const axis = niceAxis(Math.max(1, ...all.map((d) => d[1])) * 1.1);
    const yMax = axis.max;
    const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
    const y = (v) => H - m.b - (v / yMax) * (H - m.t - m.b);
    drawGrid(f, axis, y, (v) => fmt(v, axis.digits) + "x", t0, t1);
    let i = 0;
    for (const [symbol, ser] of series) {
      const colour = SERIES_COLOURS[i++ % SERIES_COLOURS.length];
      const path = (pts) => polylinePoints(pts, x, y);
      if (ser.tgt.length) {
        root.append(
          svg("polyline", { points: path(ser.tgt), class: "line-target", stroke: colour, "data-symbol": symbol, "data-series": "target" })
        );
      }
      if (ser.lev.length) {
        root.append(
          svg("polyline", { points: path(ser.lev), class: "line-leverage", stroke: colour, "data-symbol": symbol, "data-series": "leverage" })
        );
        const last = ser.lev[ser.lev.length - 1];
        root.append(svg("circle", { cx: x(last[0]), cy: y(last[1]), r: 3, fill: colour }));
      }
      const lastLev = ser.lev.length ? ser.lev[ser.lev.length - 1][1] : NaN;
      const lastTgt = ser.tgt.length ? ser.tgt[ser.tgt.length - 1][1] : NaN;
      legendItem(legend, colour, symbol + " " + fmt(lastLev, 2) + "x (target " + fmt(lastTgt, 2) + "x, dashed)");
    }
  }

  /* Distance of the mark to the liquidation price per position over the snapshot history, with
   * the account's WARN / DANGER / ACT distance thresholds (the only coloured lines). */
  function distanceChart(box, legend, snaps, limits) {
    box.replaceChildren();
    legend.replaceChildren();
    const series = new Map(); // symbol -> [[t, distance]]
    for (const s of snaps) {
      for (const p of (s.figures && s.figures.positions) || []) {
        if (!series.has(p.symbol)) series.set(p.symbol, []);
        if (isNum(p.distance)) series.get(p.symbol).push([s.ts_ns, p.distance]);
      }
    }
    const f = chartFrame(box, snaps, 48);
    const { W, H, m, root } = f;
    const all = [];
    for (const pts of series.values()) all.push(...pts);
    if (!all.length) {
      emptyChart(f, series.size ? "no liquidation price" : "no history yet");
      return;
    }
    const [t0, t1] = timeSpan(all);
    const top = Math.max(...all.map((d) => d[1]), ...limits.map((v) => v * 1.25), 0.01);
    const axis = niceAxis(Math.min(top * 1.1, 1));
    const yMax = axis.max;
    const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
    const y = (v) => H - m.b - (Math.min(Math.max(v, 0), yMax) / yMax) * (H - m.t - m.b);
    const digits = Math.max(0, axis.digits - 2);
    drawGrid(f, axis, y, (v) => pct(v, digits), t0, t1);
    ["warn", "danger", "act"].forEach((level, k) => {
      const v = limits[k];
      if (!isNum(v) || v > yMax) return;
      const g = svg("g", { class: "limit limit-" + level, "data-level": level.toUpperCase() });
      g.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
      g.append(svg("text", { x: m.l + 4, y: y(v) - 4, class: "limit-label" }, level.toUpperCase() + " " + pct(v, 0)));
      root.append(g);
    });
    let i = 0;
    for (const [symbol, pts] of series) {
      const colour = SERIES_COLOURS[i++ % SERIES_COLOURS.length];
      if (!pts.length) continue;
      const line = svg("polyline", {
        points: polylinePoints(pts, x, y),
        class: "line-distance",
        stroke: colour,
        "data-symbol": symbol,
        "data-series": "distance",
      });
      line.append(svg("title", {}, symbol + ": distance to liquidation"));
      root.append(line);
      const last = pts[pts.length - 1];
      const dot = svg("circle", { cx: x(last[0]), cy: y(last[1]), r: 3, fill: colour });
      dot.append(svg("title", {}, symbol + " " + pct(last[1], 1) + " at " + timeOf(last[0])));
      root.append(dot);
      legendItem(legend, colour, symbol + " " + pct(last[1], 1));
    }
    if (limits.length) {
      const item = el("span", { class: "legend-item muted" });
      item.append(el("span", { class: "swatch swatch-limit" }), el("span", null, "state thresholds (dashed)"));
      legend.append(item);
    }
  }

  window.levguardCharts = Object.freeze({ leverageChart, distanceChart });
})();
