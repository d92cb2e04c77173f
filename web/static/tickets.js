// The ticket console: the tickets a staff member may see (GET /api/tickets, filtered, a page at a time by
// cursor), one ticket's detail with its comments and history, status moves, assignee and priority edits,
// and comments (docs/openapi.yaml, tag tickets). Everything from the server is set as text.

import { api } from "./auth.js";
import { gate } from "./sign-in.js";
import { $, h, DASH, dateTime } from "./ui.js";

const FILTERS = { status: "f-status", priority: "f-priority", source: "f-source", assignee: "f-assignee", group_id: "f-group" };
const SOURCES = { chat: "Chat", left_message: "Left message", console: "Console" };
const REASONS = { closed: "left outside service hours", overflow: "left while all agents were busy",
  queue_timeout: "left after a long wait", visitor: "left by the visitor" };
const MOVES = { open: "Reopen", pending: "Mark pending", solved: "Mark solved", closed: "Close" };
const FIELDS = { status: "status", assignee: "assignee", priority: "priority", subject: "subject", description: "description" };

const state = {
  me: null,
  cursors: [null], // the cursor of each page seen so far; the last is the page shown
  next: null,
  rows: [],
  asked: 0,        // list requests made; answers to older ones are dropped
  selected: null,  // ticket id
  detail: null,    // the selected ticket with comments and history
  people: new Set(),
  groups: new Set(),
};

function setText(el, message, kind = "") {
  el.textContent = message;
  el.dataset.kind = kind;
}

function pill(value, label) {
  return h("span", { className: "state-pill", text: label || (value ? String(value).replace(/_/g, " ") : DASH),
    dataset: { value: value || "" } });
}

function customerName(c) {
  return (c && (c.name || c.contact || c.id)) || DASH;
}

// -- the list ------------------------------------------------------------------------------------------

function filters() {
  const out = {};
  for (const [param, id] of Object.entries(FILTERS)) {
    const value = $(id).value.trim();
    if (value) out[param] = value;
  }
  return out;
}

function syncUrl() {
  const params = new URLSearchParams(filters());
  if (state.selected) params.set("ticket", state.selected);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

async function loadList() {
  const params = new URLSearchParams(filters());
  params.set("limit", $("page-size").value);
  const cursor = state.cursors[state.cursors.length - 1];
  if (cursor) params.set("cursor", cursor);
  const status = $("list-status");
  const asked = ++state.asked; // only the latest answer is shown, whatever order answers come in
  setText(status, "Loading…");
  try {
    const page = await api(`/tickets?${params}`);
    if (asked !== state.asked) return;
    state.rows = page.tickets;
    state.next = page.next_cursor;
    setText(status, "");
  } catch (err) {
    if (asked !== state.asked) return;
    state.rows = [];
    state.next = null;
    setText(status, err.field ? `${err.message} (${err.field})` : err.message, "error");
  }
  renderRows();
  syncUrl();
}

function learn(ticket) {
  if (ticket.assignee) state.people.add(ticket.assignee);
  if (ticket.created_by && !String(ticket.created_by).startsWith("v_")) state.people.add(ticket.created_by);
  if (ticket.group_id) state.groups.add(ticket.group_id);
}

function paintDatalists() {
  $("people").replaceChildren(...[...state.people].sort().map((v) => h("option", { value: v })));
  $("groups").replaceChildren(...[...state.groups].sort().map((v) => h("option", { value: v })));
}

function renderRows() {
  state.rows.forEach(learn);
  paintDatalists();
  $("rows").replaceChildren(...state.rows.map((t) => {
    const open = h("button", { type: "button", className: "linklike", text: t.subject, dataset: { testid: "tk-open" },
      on: { click: () => openTicket(t.ticket_id) } });
    const sub = [t.ticket_id, SOURCES[t.source] || t.source, t.group_id, t.order_ref].filter(Boolean).join(" · ");
    return h("tr", { className: t.ticket_id === state.selected ? "selected" : "",
      dataset: { testid: "tk-row", ticketId: t.ticket_id, status: t.status } },
    h("th", { attrs: { scope: "row" } }, open, h("span", { className: "sub tk-sub", text: sub })),
    h("td", { attrs: { "data-label": "Status" } }, pill(t.status)),
    h("td", { attrs: { "data-label": "Priority" } }, pill(t.priority)),
    h("td", { attrs: { "data-label": "Customer" }, text: customerName(t.customer) }),
    h("td", { attrs: { "data-label": "Assignee" }, text: t.assignee || DASH }),
    h("td", { attrs: { "data-label": "Updated" }, className: "tk-when", text: dateTime(t.updated_at) }));
  }));
  $("no-rows").hidden = state.rows.length > 0;
  $("page").textContent = `Page ${state.cursors.length}`;
  $("prev").disabled = state.cursors.length <= 1;
  $("next").disabled = !state.next;
}

function firstPage() {
  state.cursors = [null];
  loadList();
}

// -- one ticket ------------------------------------------------------------------------------------------

async function openTicket(id, { focus = true } = {}) {
  state.selected = id;
  document.querySelectorAll("#rows tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.ticketId === id));
  syncUrl();
  try {
    const detail = await api(`/tickets/${encodeURIComponent(id)}`);
    if (state.selected !== id) return;
    state.detail = detail;
    renderDetail(detail);
    setText($("edit-status"), "");
    setText($("comment-status"), "");
    if (focus) $("detail").focus({ preventScroll: true });
  } catch (err) {
    if (state.selected !== id) return;
    state.detail = null;
    $("detail-body").hidden = true;
    $("detail-empty").hidden = false;
    $("detail-empty").replaceChildren(h("p", { className: "error", dataset: { testid: "tk-detail-error" },
      text: err.status === 404 ? `There is no ticket ${id}, or it is not yours to see.` : err.message }));
  }
}

function fact(label, value) {
  return [h("dt", { text: label }), h("dd", { text: value || DASH, dataset: { field: label.toLowerCase() } })];
}

function renderDetail(t) {
  learn(t);
  paintDatalists();
  $("detail-empty").hidden = true;
  $("detail-body").hidden = false;
  $("d-subject").textContent = t.subject;
  $("d-id").textContent = t.ticket_id;
  $("d-badges").replaceChildren(pill(t.status), pill(t.priority),
    h("span", { className: "tk-source", text: SOURCES[t.source] || t.source }),
    ...(t.reason ? [h("span", { className: "muted", text: REASONS[t.reason] || t.reason })] : []));
  $("d-description").textContent = t.description || "No description.";
  $("d-description").classList.toggle("muted", !t.description);
  const c = t.customer || {};
  $("d-facts").replaceChildren(
    ...fact("Customer", [c.name, c.id].filter(Boolean).join(" · ")),
    ...fact("Contact", c.contact),
    ...fact("Order", t.order_ref),
    ...fact("Chat", t.session_id),
    ...fact("Group", t.group_id),
    ...fact("Assignee", t.assignee),
    ...fact("Created", `${dateTime(t.created_at)} by ${t.created_by || DASH}`),
    ...fact("Updated", dateTime(t.updated_at)),
  );

  const moves = t.next_statuses || [];
  $("d-moves").replaceChildren(...(moves.length
    ? moves.map((to) => h("button", { type: "button", className: to === "closed" ? "ghost" : "",
      text: to === "open" && t.status !== "solved" ? "Mark open" : MOVES[to] || to,
      dataset: { testid: `tk-move-${to}` }, on: { click: () => change({ status: to }) } }))
    : [h("p", { className: "muted", text: "Closed tickets are final." })]));

  const closed = t.status === "closed";
  $("e-status").value = t.status;
  $("e-priority").value = t.priority;
  $("e-assignee").value = t.assignee || "";
  for (const el of $("edit").elements) el.disabled = closed;
  for (const el of $("comment").elements) el.disabled = closed;
  $("c-text").placeholder = closed ? "A closed ticket takes no more comments." : "Add a comment";

  $("d-comments").replaceChildren(...(t.comments.length ? t.comments.map((cm) => h("li", { dataset: { testid: "tk-comment" } },
    h("div", { className: "tk-comment-head" }, h("strong", { text: cm.author_name || cm.author_id }),
      h("span", { className: "muted", text: dateTime(cm.created_at) })),
    h("p", { text: cm.text }))) : [h("li", { className: "muted tk-none", text: "No comments yet." })]));

  const created = h("li", { dataset: { testid: "tk-change" } }, h("span", { className: "muted", text: dateTime(t.created_at) }),
    h("span", { text: `Created by ${t.created_by || DASH}${t.source ? ` (${(SOURCES[t.source] || t.source).toLowerCase()})` : ""}` }));
  $("d-history").replaceChildren(created, ...t.history.map((ch) => h("li", { dataset: { testid: "tk-change", field: ch.field } },
    h("span", { className: "muted", text: dateTime(ch.at) }),
    h("span", { text: `${ch.by_name || ch.by} changed ${FIELDS[ch.field] || ch.field} from ${shown(ch, ch.from)} to ${shown(ch, ch.to)}` }))));
}

function shown(change, value) {
  if (value === null || value === undefined || value === "") return change.field === "assignee" ? "nobody" : DASH;
  return change.field === "subject" || change.field === "description" ? `“${value}”` : String(value).replace(/_/g, " ");
}

/** PATCH the ticket at the version read; the server's refusal is shown as it says it. */
async function change(fields) {
  const t = state.detail;
  if (!t) return;
  const status = $("edit-status");
  setText(status, "Saving…");
  try {
    await api(`/tickets/${encodeURIComponent(t.ticket_id)}`, { method: "PATCH", body: { ...fields, version: t.version } });
    await openTicket(t.ticket_id, { focus: false });
    setText(status, "Saved.", "ok");
    loadList();
  } catch (err) {
    if (err.code === "conflict") {
      await openTicket(t.ticket_id, { focus: false });
      setText(status, "Someone changed this ticket in the meantime. It is shown as it is now; check and try again.", "error");
      return;
    }
    setText(status, err.message, "error");
    status.dataset.code = err.code;
  }
}

function saveEdits(e) {
  e.preventDefault();
  const t = state.detail;
  if (!t) return;
  const fields = {};
  const statusValue = $("e-status").value;
  const priority = $("e-priority").value;
  const assignee = $("e-assignee").value.trim();
  if (statusValue !== t.status) fields.status = statusValue;
  if (priority !== t.priority) fields.priority = priority;
  if (assignee !== (t.assignee || "")) fields.assignee = assignee || null;
  if (!Object.keys(fields).length) { setText($("edit-status"), "Nothing changed.", ""); return; }
  change(fields);
}

async function addComment(e) {
  e.preventDefault();
  const t = state.detail;
  const text = $("c-text").value.trim();
  const status = $("comment-status");
  if (!t || !text) return;
  const button = e.submitter || $("comment").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api(`/tickets/${encodeURIComponent(t.ticket_id)}/comments`, { method: "POST", body: { text } });
    $("c-text").value = "";
    await openTicket(t.ticket_id, { focus: false });
    setText(status, "Comment added.", "ok");
    loadList();
  } catch (err) {
    setText(status, err.message, "error");
  } finally {
    button.disabled = state.detail && state.detail.status === "closed";
  }
}

// -- wiring ----------------------------------------------------------------------------------------------

function start(auth) {
  state.me = auth.user;
  state.people.add(auth.user.id);
  const params = new URLSearchParams(location.search);
  for (const [param, id] of Object.entries(FILTERS)) $(id).value = params.get(param) || "";
  loadList();
  const ticket = params.get("ticket");
  if (ticket) openTicket(ticket);
}

$("filters").addEventListener("submit", (e) => { e.preventDefault(); firstPage(); });
for (const id of ["f-status", "f-priority", "f-source"]) $(id).addEventListener("change", firstPage);
$("f-mine").addEventListener("click", () => { $("f-assignee").value = state.me.id; firstPage(); });
$("f-reset").addEventListener("click", () => { $("filters").reset(); firstPage(); });
$("page-size").addEventListener("change", firstPage);
$("next").addEventListener("click", () => { if (state.next) { state.cursors.push(state.next); loadList(); } });
$("prev").addEventListener("click", () => { if (state.cursors.length > 1) { state.cursors.pop(); loadList(); } });
$("edit").addEventListener("submit", saveEdits);
$("e-me").addEventListener("click", () => { $("e-assignee").value = state.me.id; });
$("comment").addEventListener("submit", addComment);

gate({ roles: ["agent", "supervisor", "admin"], deniedText: "The ticket console is for staff.", onStart: start });
