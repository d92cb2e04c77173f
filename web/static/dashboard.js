// The supervisor dashboard: GET /api/dashboard for the first picture, then the WebSocket pushes
// (subscribe_dashboard, docs/protocol.md section 2.5) keep it live. Between full snapshots, waits count up
// in the browser and `dashboard.group` counters are merged in at once; a fresh snapshot follows shortly.

import { ImClient, wsUrl } from "./imclient.js";
import { api, signOut } from "./auth.js";
import "./connection-banner.js";
import { gate } from "./sign-in.js";
import { $, h, DASH, clock, duration, shortDuration } from "./ui.js";
import { localName, number, parts, t, tn } from "./i18n.js";
import { stackedBars, stepChart } from "./charts.js";

const PALETTE = ["#2f6fed", "#1f9d55", "#d97706", "#9333ea", "#db2777", "#0891b2", "#65a30d", "#dc2626"];
const HISTORY_MS = 15 * 60 * 1000;   // the waiting chart shows the last 15 minutes (since the page opened)
const MIN_SPAN_MS = 2 * 60 * 1000;
const SAMPLE_MS = 5000;
const REFRESH_DELAY_MS = 1500;       // a full snapshot this long after a push, for the per-visitor waits
const FEED_MAX = 50;
const BUCKETS = [
  { upTo: 30, label: t("dash.bucket.30s") }, { upTo: 60, label: t("dash.bucket.1m") },
  { upTo: 120, label: t("dash.bucket.2m") }, { upTo: 300, label: t("dash.bucket.5m") },
  { upTo: 600, label: t("dash.bucket.10m") }, { upTo: Infinity, label: t("dash.bucket.more") },
];
const OVERFLOW_REASONS = ["queue_full", "waiting_count", "waiting_per_capacity", "longest_wait", "no_agents_online"];

const groups = new Map();      // group id -> figures (the last snapshot, with pushed counters merged in)
const waitStarts = new Map();  // group id -> when each waiting visitor started waiting (ms, this clock)
const history = new Map();     // group id -> [{t, v}] waiting counts over time
const colors = new Map();      // group id -> colour
let startedAt = Date.now();
let lastFigures = null;        // when figures last arrived
let refreshTimer = null;
let live = false;
let client = null;

function colorOf(id) {
  if (!colors.has(id)) colors.set(id, PALETTE[colors.size % PALETTE.length]);
  return colors.get(id);
}

function nameOf(id) {
  return localName(groups.get(id), id || DASH);
}

// -- figures ---------------------------------------------------------------------------------------

function sample(id, waiting, now) {
  const points = history.get(id) || [];
  const last = points[points.length - 1];
  if (!last || last.v !== waiting || now - last.t >= SAMPLE_MS) points.push({ t: now, v: waiting });
  // Keep one point before the window so the line starts at the right height.
  while (points.length > 2 && points[1].t < now - HISTORY_MS) points.shift();
  history.set(id, points);
}

function applySnapshot(snapshot) {
  const now = Date.now();
  const present = new Set();
  for (const g of snapshot.groups || []) {
    present.add(g.id);
    groups.set(g.id, { ...g });
    waitStarts.set(g.id, (g.waits_seconds || []).map((s) => now - s * 1000));
    colorOf(g.id);
    sample(g.id, g.waiting, now);
  }
  for (const id of [...groups.keys()]) {
    if (!present.has(id)) { groups.delete(id); waitStarts.delete(id); history.delete(id); }
  }
  lastFigures = now;
  render();
}

// A `dashboard.group` push carries the counters only: merge them, keep one wait per waiting visitor
// (new arrivals start at zero, the longest-waiting leave first), and ask for a full snapshot soon.
function applyGroup(counters) {
  const now = Date.now();
  const merged = { ...(groups.get(counters.id) || {}), ...counters };
  const starts = waitStarts.get(counters.id) || [];
  while (starts.length < counters.waiting) starts.push(now);
  while (starts.length > counters.waiting) starts.splice(starts.indexOf(Math.min(...starts)), 1);
  groups.set(counters.id, merged);
  waitStarts.set(counters.id, starts);
  colorOf(counters.id);
  sample(counters.id, counters.waiting, now);
  lastFigures = now;
  render();
  refreshSoon();
}

function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    try {
      applySnapshot(await api("/dashboard"));
    } catch (err) {
      showNotice(err.message);
    } finally {
      refreshTimer = null;
    }
  }, REFRESH_DELAY_MS);
}

function waitsOf(id, now) {
  return (waitStarts.get(id) || []).map((start) => Math.max(0, (now - start) / 1000));
}

// -- rendering -------------------------------------------------------------------------------------

function showNotice(message) {
  $("notice").textContent = message || "";
  $("notice").hidden = !message;
}

function cell(field, label, value, className = "num") {
  return h("td", { className, dataset: { field, label } }, value);
}

function agentsCell(agents) {
  const a = agents || {};
  const pill = (status, n) => h("span", { className: `pill ${status}`, text: number(n ?? 0),
    attrs: { title: t(`dash.pill.${status}`, { count: number(n ?? 0) }) }, dataset: { status } });
  return h("td", { dataset: { field: "agents", label: t("dash.col.agents_label") } },
    h("span", { className: "pills" }, pill("online", a.online), pill("busy", a.busy), pill("offline", a.offline)));
}

function loadCell(load) {
  const td = h("td", { dataset: { field: "load", label: t("dash.col.load") } });
  if (load === null || load === undefined) {
    td.append(h("span", { className: "muted", text: t("dash.no_agent_online") }));
    return td;
  }
  const pct = Math.round(load * 100);
  const level = load >= 1 ? "over" : load >= 0.8 ? "high" : "ok";
  const bar = h("span", { className: `meter ${level}`, attrs: { role: "meter", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": Math.min(pct, 100), "aria-label": t("dash.load_label", { pct }) } },
  h("span", { className: "meter-fill", style: { width: `${Math.min(pct, 100)}%` } }));
  td.append(h("span", { className: "score" }, bar, h("span", { className: "meter-text", text: `${pct}%` })));
  return td;
}

// CSAT arrives as `csat: {avg, count}` per group once surveys are counted; until then "—".
function csatCell(csat) {
  const td = h("td", { className: "num csat", dataset: { field: "csat", label: t("dash.col.csat") } });
  if (csat && typeof csat.avg === "number") {
    td.append(h("strong", { text: csat.avg.toFixed(1) }), h("span", { className: "star", text: " ★", attrs: { "aria-hidden": "true" } }),
      " ", h("span", { className: "sub", text: tn("dash.surveys", csat.count ?? 0) }));
  } else {
    td.textContent = DASH;
    td.title = t("dash.no_csat");
  }
  return td;
}

function renderTable(now) {
  const rows = [];
  for (const g of groups.values()) {
    const waits = waitsOf(g.id, now);
    const longest = waits.length ? Math.max(...waits) : 0;
    const average = waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0;
    const name = h("th", { scope: "row", dataset: { field: "name", label: t("dash.col.group") } },
      h("span", { className: "swatch", style: { background: colorOf(g.id) }, attrs: { "aria-hidden": "true" } }),
      h("span", { className: "group-name", text: localName(g, g.id), dataset: { userContent: "" } }));
    const waiting = cell("waiting", t("dash.col.waiting"), g.waiting ?? 0, `num big${g.waiting ? " alert" : ""}`);
    rows.push(h("tr", { dataset: { testid: "dash-group", group: g.id } },
      name, waiting,
      cell("longest", t("dash.col.longest"), waits.length ? duration(longest) : DASH),
      cell("average_now", t("dash.col.average_now"), waits.length ? duration(average) : DASH),
      cell("average_wait", t("dash.col.wait_to_agent"), duration(g.average_wait_seconds)),
      agentsCell(g.agents),
      cell("active", t("dash.col.active"), g.active_sessions ?? DASH),
      loadCell(g.load),
      cell("overflow", t("dash.col.overflows"), g.overflow_events ?? 0),
      cell("assigned", t("dash.col.assigned"), g.assigned_total ?? 0),
      cell("handle", t("dash.col.handle"), duration(g.average_handle_seconds)),
      csatCell(g.csat)));
  }
  $("groups").replaceChildren(...rows);
  $("no-groups").hidden = rows.length > 0 || lastFigures === null;
}

function renderTotals(now) {
  const all = [...groups.keys()].flatMap((id) => waitsOf(id, now));
  const sum = (key) => [...groups.values()].reduce((total, g) => total + (g[key] || 0), 0);
  $("k-waiting").textContent = String(sum("waiting"));
  $("k-longest").textContent = all.length ? duration(Math.max(...all)) : DASH;
  $("k-average").textContent = all.length ? duration(all.reduce((a, b) => a + b, 0) / all.length) : DASH;
  $("k-assigned").textContent = String(sum("assigned_total"));
  $("k-overflow").textContent = String(sum("overflow_events"));
}

function renderCharts(now) {
  const ids = [...groups.keys()];
  const from = Math.max(now - HISTORY_MS, Math.min(startedAt, now - MIN_SPAN_MS));
  stepChart($("chart-waiting"), {
    title: t("dash.chart.waiting_title"),
    from, to: now, timeLabel: (t) => clock(t).slice(0, 5 + (now - from < 10 * 60 * 1000 ? 3 : 0)),
    series: ids.map((id) => ({ name: nameOf(id), color: colorOf(id), points: history.get(id) || [] })),
  });
  stackedBars($("chart-waits"), {
    title: t("dash.chart.waits_title"),
    emptyText: t("dash.chart.nobody"),
    buckets: BUCKETS.map((b) => b.label),
    series: ids.map((id) => {
      const values = BUCKETS.map(() => 0);
      for (const w of waitsOf(id, now)) values[BUCKETS.findIndex((b) => w < b.upTo)] += 1;
      return { name: nameOf(id), color: colorOf(id), values };
    }),
  });
  $("legend").replaceChildren(...ids.map((id) => h("li", {},
    h("span", { className: "swatch", style: { background: colorOf(id) }, attrs: { "aria-hidden": "true" } }),
    h("span", { text: nameOf(id), dataset: { userContent: "" } }),
    h("span", { className: "sub", text: ` ${groups.get(id).waiting ?? 0}` }))));
}

function renderUpdated(now) {
  if (lastFigures === null) return;
  const ago = Math.round((now - lastFigures) / 1000);
  $("updated").textContent = t(live ? "dash.live" : "dash.not_live", { time: clock(lastFigures) }) +
    (ago >= 90 ? ` ${t("dash.ago", { ago: shortDuration(ago) })}` : "");
}

function render() {
  const now = Date.now();
  renderTotals(now);
  renderTable(now);
  renderCharts(now);
  renderUpdated(now);
}

// -- events ----------------------------------------------------------------------------------------

function addEvent(kind, at, ...parts) {
  const item = h("li", { className: `feed-item ${kind}`, dataset: { testid: "dash-event", kind } },
    h("time", { text: clock(at || Date.now()), attrs: { datetime: new Date(at || Date.now()).toISOString() } }),
    h("span", { className: "feed-kind", text: t(kind === "overflow" ? "dash.event.overflow" : "dash.event.left_message") }),
    h("span", { className: "feed-text" }, ...parts));
  const feed = $("feed");
  feed.prepend(item);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  $("no-events").hidden = true;
}

function setConnection(state) {
  $("conn").textContent = t(`conn.${state}`);
  $("conn").dataset.state = state;
  document.querySelector("cs-connection-banner").show(state);
}

function onEvent(name, data) {
  if (name === "state") {
    live = false;
    setConnection(data);
    if (data === "refused") {
      // The WebSocket never opened: the token was most likely refused (unless another tab has signed in since).
      signOut(client.token);
      sessionStorage.setItem("cs.notice", t("common.expired"));
      location.reload();
    }
    renderUpdated(Date.now());
  } else if (name === "welcome") {
    client.raw({ action: "subscribe_dashboard" }); // a subscription belongs to the connection: again after reconnecting
  } else if (name === "dashboard.snapshot") {
    live = true;
    setConnection("live");
    showNotice("");
    applySnapshot(data);
  } else if (name === "dashboard.group") {
    applyGroup(data.group);
  } else if (name === "dashboard.overflow") {
    const reason = OVERFLOW_REASONS.includes(data.reason) ? t(`dash.reason.${data.reason}`) : data.reason;
    const group = (id) => h("strong", { text: nameOf(id), dataset: { userContent: "" } });
    addEvent("overflow", data.at, ...parts(data.to ? "dash.overflow_to" : "dash.overflow_leave",
      { group: group(data.group_id), reason, to: data.to ? group(data.to) : null }));
    refreshSoon();
  } else if (name === "dashboard.left_message") {
    addEvent("left_message", data.at, ...parts("dash.left_message_for",
      { group: h("strong", { text: nameOf(data.group_id), dataset: { userContent: "" } }) }));
  } else if (name === "error") {
    showNotice(data.message || t("common.server_refused"));
  }
}

async function start(auth) {
  startedAt = Date.now();
  try {
    applySnapshot(await api("/dashboard"));
  } catch (err) {
    showNotice(err.message);
  }
  client = new ImClient({ url: wsUrl(), token: auth.token, onEvent });
  client.connect();
  setInterval(() => {
    const now = Date.now();
    for (const g of groups.values()) sample(g.id, g.waiting ?? 0, now);
    render();
  }, 1000);
  new ResizeObserver(() => renderCharts(Date.now())).observe($("chart-waiting"));
  window.addEventListener("pagehide", () => client && client.close());
}

gate({ roles: ["supervisor", "admin"], deniedText: t("dash.denied"), onStart: start });
