// Reports over time: GET /api/reports for a date range, per hour or day, narrowed to a group, an agent, a channel or a
// category (what the caller may see: agents their own figures, supervisors their groups', admins all). Figures are
// drawn as SVG charts (charts.js), a table per period and the wrap-up reasons; the same table downloads as CSV.
// Days and hours are the browser's time zone's, dates and numbers the page language's (Intl).

import { api } from "./auth.js";
import { gate } from "./sign-in.js";
import { $, h, DASH, duration } from "./ui.js";
import { codeText, lang, localName, number, t } from "./i18n.js";
import { loadGroups, loadedGroups } from "./group-names.js";
import { stackedBars, stepChart } from "./charts.js";

const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const SLA_CHOICES = [10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600];
const DEFAULT_DAYS = 7;
const DAY_MS = 86400000;
const COLORS = { robot: "#1f9d55", handed: "#2f6fed", left: "#d97706", wait: "#9333ea", frt: "#2f6fed",
  frt90: "#db2777", resolution: "#1f9d55", sla: "#2f6fed", csat: "#d97706" };

const percentFormat = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
const csatFormat = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 2 });
const hourLabel = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dayLabel = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric" });
const dayLong = new Intl.DateTimeFormat(lang, { dateStyle: "medium" });
const isoParts = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
  minute: "2-digit", hourCycle: "h23", timeZone: TZ });

const pct = (v) => (v === null || v === undefined ? DASH : percentFormat.format(v));
const secs = (v) => duration(v);
const csat = (v) => (v === null || v === undefined ? DASH : t("reports.stars", { value: csatFormat.format(v) }));

// The figures a period shows, in table and CSV order: key, catalogue key of the column, how a cell reads.
const COLUMNS = [
  ["conversations", "reports.col.conversations", number],
  ["robot_only", "reports.col.robot_only", number],
  ["handed_off", "reports.col.handed_off", number],
  ["left_messages", "reports.col.left_messages", number],
  ["robot_resolution_rate", "reports.col.robot_resolution_rate", pct],
  ["handoff_rate", "reports.col.handoff_rate", pct],
  ["abandoned", "reports.col.abandoned", number],
  ["abandonment_rate", "reports.col.abandonment_rate", pct],
  ["wait_mean_seconds", "reports.col.wait_mean", secs],
  ["wait_p90_seconds", "reports.col.wait_p90", secs],
  ["first_response_mean_seconds", "reports.col.frt_mean", secs],
  ["first_response_p90_seconds", "reports.col.frt_p90", secs],
  ["sla_share", "reports.col.sla_share", pct],
  ["handle_mean_seconds", "reports.col.handle_mean", secs],
  ["transfers", "reports.col.transfers", number],
  ["resolved", "reports.col.resolved", number],
  ["csat_mean", "reports.col.csat_mean", csat],
  ["csat_satisfied_share", "reports.col.csat_satisfied", pct],
  ["csat_answer_rate", "reports.col.csat_answer_rate", pct],
];
const KPIS = ["conversations", "robot_resolution_rate", "handoff_rate", "abandonment_rate", "wait_mean_seconds",
  "first_response_mean_seconds", "sla_share", "handle_mean_seconds", "transfers", "csat_mean", "csat_satisfied_share",
  "csat_answer_rate", "left_messages"];

let report = null;      // the last report shown
let scopesFilled = false;

function isoDate(ms) {
  const p = Object.fromEntries(isoParts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

function isoDateTime(ms) {
  const p = Object.fromEntries(isoParts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

function periodLabel(ms, granularity) {
  return granularity === "hour" ? hourLabel.format(new Date(ms)) : dayLong.format(new Date(ms));
}

function showNotice(message) {
  $("notice").textContent = message || "";
  $("notice").hidden = !message;
}

// -- the form ----------------------------------------------------------------------------------------------

function fillForm() {
  const today = Date.now();
  $("to").value = isoDate(today);
  $("from").value = isoDate(today - (DEFAULT_DAYS - 1) * DAY_MS);
  // "Within 30 s", "Within 1 min", "Within 1 min 30 s": whole minutes without their zero seconds.
  const label = (s) => (s < 60 ? t("reports.sla_within_s", { s }) : s % 60 === 0 ? t("reports.sla_within_m", { m: s / 60 })
    : t("reports.sla_within_m_s", { m: Math.floor(s / 60), s: s % 60 }));
  $("sla").replaceChildren(...SLA_CHOICES.map((s) => h("option", { value: String(s), text: label(s), selected: s === 60 })));
  $("scope").replaceChildren(h("option", { value: "", text: t("reports.scope_default") }));
}

// The choices of what to show come with the first report: only what the caller may see.
function fillScopes(filters) {
  if (scopesFilled) return;
  scopesFilled = true;
  const groups = (label, items) => (items.length ? h("optgroup", { attrs: { label } }, ...items) : null);
  // replaceChildren would write a null as the text "null": the empty groups are left out first.
  $("scope").replaceChildren(...[
    h("option", { value: "", text: t("reports.scope_default") }),
    // Group names (in the page's language) and agent ids are the shop's data, not the page's words; a category
    // the catalogue knows is shown in its words, another as its code.
    groups(t("reports.scope_group"), filters.groups.map((g) => h("option", { value: `group:${g.id}`,
      text: localName(g, g.id), dataset: { userContent: "" } }))),
    groups(t("reports.scope_agent"), filters.agents.map((a) => h("option", { value: `agent:${a.id}`, text: a.id,
      dataset: { userContent: "" } }))),
    groups(t("reports.scope_channel"), filters.channels.map((c) => h("option", { value: `channel:${c}`,
      text: codeText("channel", c), dataset: { userContent: "" } }))),
    groups(t("reports.scope_category"), filters.categories.map((c) => h("option", { value: `category:${c}`, text: codeText("category", c),
      dataset: { userContent: "" } }))),
  ].filter(Boolean));
}

/** A wrap-up reason's label in the page's language: reports count codes across groups, and a code means the same in
 *  every group that has it, so the first group's label is the one (the code itself for a reason no longer configured). */
function wrapupLabel(code) {
  for (const g of (loadedGroups() || new Map()).values()) {
    const reason = (g.reasons || []).find((r) => r.code === code);
    if (reason) return reason.label[lang] || reason.label.en || code;
  }
  return code;
}

function query() {
  const params = new URLSearchParams({ from: $("from").value, to: $("to").value, granularity: $("granularity").value,
    tz: TZ, sla_seconds: $("sla").value });
  const scope = $("scope").value;
  if (scope) {
    const [dimension, ...rest] = scope.split(":");
    params.set(dimension, rest.join(":"));
  }
  return params;
}

async function load() {
  $("status").textContent = t("common.loading");
  $("apply").disabled = true;
  try {
    report = await api(`/reports?${query()}`);
    showNotice("");
    fillScopes(report.filters);
    render();
    $("csv").disabled = false;
  } catch (err) {
    showNotice(err.message);
    $("status").textContent = "";
  } finally {
    $("apply").disabled = false;
  }
}

// -- drawing -----------------------------------------------------------------------------------------------

function renderKpis(total) {
  const byKey = Object.fromEntries(COLUMNS.map(([key, label, fmt]) => [key, { label, fmt }]));
  $("kpis").replaceChildren(...KPIS.map((key) => h("div", { className: "kpi", dataset: { testid: "reports-kpi", key } },
    h("span", { className: "kpi-label", text: t(byKey[key].label) }),
    h("strong", { text: byKey[key].fmt(total[key]) }))));
}

function legend(id, entries) {
  $(id).replaceChildren(...entries.map(([name, color]) => h("li", {},
    h("span", { className: "swatch", style: { background: color }, attrs: { "aria-hidden": "true" } }), h("span", { text: name }))));
}

function renderCharts() {
  const { buckets, granularity } = report;
  const label = (ms) => (granularity === "hour" ? hourLabel.format(new Date(ms)) : dayLabel.format(new Date(ms)));
  const labels = buckets.map((b) => label(b.start));
  const conversations = [
    { name: t("reports.col.robot_only"), color: COLORS.robot, values: buckets.map((b) => b.robot_only) },
    { name: t("reports.col.handed_off"), color: COLORS.handed, values: buckets.map((b) => b.handed_off) },
    { name: t("reports.col.left_messages"), color: COLORS.left, values: buckets.map((b) => b.left_messages) },
  ];
  stackedBars($("chart-conversations"), {
    title: t("reports.chart.conversations"), emptyText: t("reports.chart.none"), buckets: labels, series: conversations,
    labelEvery: Math.max(1, Math.ceil(buckets.length / 8)), showTotals: buckets.length <= 14,
    tip: (s, count, when) => t("reports.chart.bar_tip", { name: s.name, count: number(count), when }),
  });
  legend("legend-conversations", conversations.map((s) => [s.name, s.color]));
  const from = buckets.length ? buckets[0].start : Date.now();
  const to = buckets.length > 1 ? buckets[buckets.length - 1].start : from + 1;
  const line = (name, color, key, scale = 1) => ({ name, color,
    points: buckets.filter((b) => b[key] !== null && b[key] !== undefined).map((b) => ({ t: b.start, v: b[key] * scale })) });
  const times = [
    line(t("reports.col.wait_mean"), COLORS.wait, "wait_mean_seconds"),
    line(t("reports.col.frt_mean"), COLORS.frt, "first_response_mean_seconds"),
    line(t("reports.col.frt_p90"), COLORS.frt90, "first_response_p90_seconds"),
  ];
  stepChart($("chart-times"), { title: t("reports.chart.times_title"), from, to, timeLabel: label, series: times,
    tip: (s, last) => t("reports.chart.seconds_tip", { name: s.name, when: label(last.t), s: number(Math.round(last.v)) }) });
  legend("legend-times", times.map((s) => [s.name, s.color]));
  const rates = [
    line(t("reports.col.robot_resolution_rate"), COLORS.resolution, "robot_resolution_rate", 100),
    line(t("reports.col.sla_share"), COLORS.sla, "sla_share", 100),
    line(t("reports.col.csat_satisfied"), COLORS.csat, "csat_satisfied_share", 100),
  ];
  stepChart($("chart-rates"), { title: t("reports.chart.rates_title"), from, to, timeLabel: label, series: rates,
    tip: (s, last) => t("reports.chart.percent_tip", { name: s.name, when: label(last.t), pct: number(Math.round(last.v)) }) });
  legend("legend-rates", rates.map((s) => [s.name, s.color]));
}

function renderTable() {
  const { buckets, granularity } = report;
  $("table-head").replaceChildren(h("th", { scope: "col", text: t("reports.col.period") }),
    ...COLUMNS.map(([, label]) => h("th", { scope: "col", className: "num", text: t(label) })));
  $("table-body").replaceChildren(...buckets.filter((b) => b.conversations || b.left_messages || b.ratings)
    .map((b) => h("tr", { dataset: { testid: "reports-row", start: b.start } },
      h("th", { scope: "row", text: periodLabel(b.start, granularity), dataset: { label: t("reports.col.period") } }),
      ...COLUMNS.map(([key, label, fmt]) => h("td", { className: "num", text: fmt(b[key]), dataset: { field: key, label: t(label) } })))));
  const wrapups = Object.entries(report.total.wrapup || {}).sort((a, b) => b[1] - a[1]);
  $("wrapup-body").replaceChildren(...wrapups.map(([code, count]) => h("tr", {},
    h("th", { scope: "row", text: wrapupLabel(code), dataset: { userContent: "" } }), h("td", { className: "num", text: number(count) }))));
  $("no-wrapup").hidden = wrapups.length > 0;
}

function render() {
  renderKpis(report.total);
  renderCharts();
  renderTable();
  $("status").textContent = t("reports.showing", {
    from: dayLong.format(new Date(report.buckets.length ? report.buckets[0].start : Date.now())),
    to: dayLong.format(new Date(report.buckets.length ? report.buckets[report.buckets.length - 1].start : Date.now())),
    count: number(report.total.conversations) });
}

// -- CSV ---------------------------------------------------------------------------------------------------

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The report as CSV: the page's column names, one row per period (local time), raw numbers (rates 0 to 1). */
export function toCsv(data) {
  const head = [t("reports.col.period"), ...COLUMNS.map(([, label]) => t(label))];
  const at = data.granularity === "hour" ? isoDateTime : isoDate;
  const rows = data.buckets.map((b) => [at(b.start), ...COLUMNS.map(([key]) => b[key])]);
  return [head, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

function download() {
  if (!report) return;
  // A byte order mark, so spreadsheet programs read the Chinese column names as UTF-8.
  const blob = new Blob(["\ufeff", toCsv(report)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: `reports-${report.from}-${report.to}-${report.granularity}.csv`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function start() {
  fillForm();
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("csv").addEventListener("click", download);
  new ResizeObserver(() => report && renderCharts()).observe($("chart-conversations"));
  load();
  // The wrap-up reasons' labels: a report drawn before they arrive shows codes until this redraws it.
  loadGroups().then(() => report && render()).catch(() => {});
}

gate({ roles: ["agent", "supervisor", "admin"], deniedText: t("reports.denied"), onStart: start });
