// Two small inline-SVG charts for the dashboard and the reports: series over time (step lines) and stacked bars.
// Labels are set with textContent; sizes follow the container's width.

import { t } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const PAD = { top: 14, right: 16, bottom: 30, left: 36 };

function svgEl(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

/** Whole-number ticks from 0 to at least `max` (4 or 5 steps). */
function integerTicks(max) {
  const top = Math.max(4, Math.ceil(max));
  const step = Math.max(1, Math.ceil(top / 4));
  const ticks = [];
  for (let v = 0; v <= top + step - 1; v += step) {
    ticks.push(v);
    if (v >= top) break;
  }
  return ticks;
}

function frame(container, height, title) {
  const width = Math.max(280, Math.floor(container.clientWidth || 560));
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title });
  svg.appendChild(svgEl("title", {}, title));
  return { svg, width, height, plotW: width - PAD.left - PAD.right, plotH: height - PAD.top - PAD.bottom };
}

function yAxis(svg, ticks, y, width) {
  for (const t of ticks) {
    const yy = y(t);
    svg.appendChild(svgEl("line", { x1: PAD.left, x2: width - PAD.right, y1: yy, y2: yy, class: "grid" }));
    svg.appendChild(svgEl("text", { x: PAD.left - 8, y: yy + 4, "text-anchor": "end", class: "tick" }, t));
  }
}

/**
 * Step lines over time. `series`: [{name, color, points: [{t, v}] (t in ms, sorted)}]; the x axis runs from
 * `from` to `to` (ms), labelled with `timeLabel(t)`. `tip(series, last)` is a line's tooltip (default: waiting now).
 */
export function stepChart(container, { series, from, to, timeLabel, title, tip, height = 220 }) {
  const { svg, width, plotW, plotH } = frame(container, height, title);
  const max = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.v)));
  const ticks = integerTicks(max);
  const top = ticks[ticks.length - 1];
  const x = (t) => PAD.left + ((Math.min(Math.max(t, from), to) - from) / Math.max(1, to - from)) * plotW;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  yAxis(svg, ticks, y, width);
  for (const [i, t] of [from, (from + to) / 2, to].entries()) {
    const anchor = ["start", "middle", "end"][i];
    svg.appendChild(svgEl("text", { x: x(t), y: height - 8, "text-anchor": anchor, class: "tick" }, timeLabel(t)));
  }
  // Draw the busiest series last so it stays on top where lines overlap.
  const ordered = [...series].sort((a, b) => Math.max(0, ...a.points.map((p) => p.v)) - Math.max(0, ...b.points.map((p) => p.v)));
  for (const s of ordered) {
    if (!s.points.length) continue;
    let d = "";
    let last = null;
    for (const p of s.points) {
      if (last === null) d += `M${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      else d += `H${x(p.t).toFixed(1)}V${y(p.v).toFixed(1)}`;
      last = p;
    }
    d += `H${x(to).toFixed(1)}`;
    const path = svgEl("path", { d, fill: "none", stroke: s.color, "stroke-width": 2.25, "stroke-linejoin": "round" });
    path.appendChild(svgEl("title", {}, tip ? tip(s, last) : t("chart.waiting_now", { name: s.name, count: last.v })));
    svg.appendChild(path);
    svg.appendChild(svgEl("circle", { cx: x(to), cy: y(last.v), r: 3.5, fill: s.color }));
  }
  container.replaceChildren(svg);
}

/**
 * Stacked bars: `buckets` are the x labels, `series` [{name, color, values: [count per bucket]}].
 * With every count zero, `emptyText` is shown over the axes. `labelEvery`: label one bucket in that many (long ranges);
 * `tip(series, count, label)`: a bar's tooltip (default: visitors waiting).
 */
export function stackedBars(container, { buckets, series, title, emptyText, tip, labelEvery = 1, showTotals = true,
  height = 220 }) {
  const { svg, width, plotW, plotH } = frame(container, height, title);
  const totals = buckets.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const ticks = integerTicks(Math.max(0, ...totals));
  const top = ticks[ticks.length - 1];
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  yAxis(svg, ticks, y, width);
  const slot = plotW / buckets.length;
  const barW = Math.min(56, slot * 0.62);
  buckets.forEach((label, i) => {
    const cx = PAD.left + slot * i + slot / 2;
    let base = 0;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (!v) continue;
      const rect = svgEl("rect", { x: cx - barW / 2, y: y(base + v), width: barW, height: Math.max(1, y(base) - y(base + v)),
        fill: s.color, rx: 2 });
      rect.appendChild(svgEl("title", {}, tip ? tip(s, v, label) : t("chart.waiting_bucket", { name: s.name, count: v, label })));
      svg.appendChild(rect);
      base += v;
    }
    if (showTotals && totals[i]) {
      svg.appendChild(svgEl("text", { x: cx, y: y(totals[i]) - 5, "text-anchor": "middle", class: "value" }, totals[i]));
    }
    if (i % labelEvery === 0) svg.appendChild(svgEl("text", { x: cx, y: height - 8, "text-anchor": "middle", class: "tick" }, label));
  });
  if (!totals.some(Boolean)) {
    svg.appendChild(svgEl("text", { x: PAD.left + plotW / 2, y: PAD.top + plotH * 0.375 + 4, "text-anchor": "middle", class: "empty-note" },
      emptyText));
  }
  container.replaceChildren(svg);
}
