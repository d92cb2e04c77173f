// The ticket console: the tickets a staff member may see (GET /api/tickets, filtered, a page at a time by
// cursor), one ticket's detail with its comments and history, status moves, assignee and priority edits,
// and comments (docs/openapi.yaml, tag tickets). Everything from the server is set as text.

import { api } from "./auth.js";
import { gate } from "./sign-in.js";
import { $, h, DASH, dateTime } from "./ui.js";
import { parts, t as tr } from "./i18n.js";
import { showTranscript } from "./transcript.js";
import { groupName, loadGroups } from "./group-names.js";

const FILTERS = { status: "f-status", priority: "f-priority", source: "f-source", assignee: "f-assignee", group_id: "f-group" };
const SOURCES = ["chat", "left_message", "console"];
const REASONS = ["closed", "overflow", "queue_timeout", "visitor"];
const MOVES = ["open", "pending", "solved", "closed"];
const FIELDS = ["status", "assignee", "priority", "subject", "description"];
// A known value in words ("pending" / "挂起"); an unknown one as the server sent it.
const word = (kind, value) => (value ? tr(`tk.value.${kind}.${value}`) : DASH);
const known = (list, value, key) => (list.includes(value) ? tr(`${key}.${value}`) : value);
const sourceWord = (source) => (SOURCES.includes(source) ? word("source", source) : source);

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

function pill(kind, value) {
  return h("span", { className: "state-pill", text: value ? word(kind, value) : DASH, dataset: { value: value || "" } });
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
  setText(status, tr("tk.loading"));
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
    setText(status, err.field ? tr("common.error_field", { message: err.message, field: err.field }) : err.message, "error");
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
  // The filter takes a group id; each suggestion is labelled with the group's name in the page's language.
  $("groups").replaceChildren(...[...state.groups].sort().map((v) => h("option", { value: v, label: groupName(v), dataset: { userContent: "" } })));
}

function renderRows() {
  state.rows.forEach(learn);
  paintDatalists();
  $("rows").replaceChildren(...state.rows.map((t) => {
    const open = h("button", { type: "button", className: "linklike", text: t.subject, dataset: { testid: "tk-open", userContent: "" },
      on: { click: () => openTicket(t.ticket_id) } });
    const sub = [t.ticket_id, known(SOURCES, t.source, "tk.source"), groupName(t.group_id), t.order_ref].filter(Boolean).join(" · ");
    return h("tr", { className: t.ticket_id === state.selected ? "selected" : "",
      dataset: { testid: "tk-row", ticketId: t.ticket_id, status: t.status } },
    h("th", { attrs: { scope: "row" } }, open, h("span", { className: "sub tk-sub", text: sub, dataset: { userContent: "" } })),
    h("td", { attrs: { "data-label": tr("tk.status") } }, pill("status", t.status)),
    h("td", { attrs: { "data-label": tr("tk.priority") } }, pill("priority", t.priority)),
    h("td", { attrs: { "data-label": tr("tk.col.customer") }, className: "tk-who", text: customerName(t.customer), dataset: { userContent: "" } }),
    h("td", { attrs: { "data-label": tr("tk.assignee") }, className: "tk-who", text: t.assignee || DASH, dataset: { userContent: "" } }),
    h("td", { attrs: { "data-label": tr("tk.col.updated") }, className: "tk-when", text: dateTime(t.updated_at) }));
  }));
  $("no-rows").hidden = state.rows.length > 0;
  $("page").textContent = tr("tk.page", { page: state.cursors.length });
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
      text: err.status === 404 ? tr("tk.no_such", { id }) : err.message }));
  }
}

function fact(field, value) {
  return [h("dt", { text: tr(`tk.fact.${field}`) }), h("dd", { text: value || DASH, dataset: { field, userContent: "" } })];
}

function renderDetail(t) {
  learn(t);
  paintDatalists();
  $("detail-empty").hidden = true;
  $("detail-body").hidden = false;
  $("d-subject").textContent = t.subject;
  $("d-id").textContent = t.ticket_id;
  $("d-badges").replaceChildren(pill("status", t.status), pill("priority", t.priority),
    h("span", { className: "tk-source", text: known(SOURCES, t.source, "tk.source") }),
    ...(t.reason ? [h("span", { className: "muted", text: known(REASONS, t.reason, "tk.reason") })] : []));
  $("d-description").textContent = t.description || tr("tk.no_description");
  if (t.description) $("d-description").dataset.userContent = "";
  else delete $("d-description").dataset.userContent;
  $("d-description").classList.toggle("muted", !t.description);
  const c = t.customer || {};
  // The chat a ticket came from, as its transcript (not its id): read once per ticket opened.
  $("d-chat-section").hidden = !t.session_id;
  if (t.session_id && $("d-chat").dataset.sessionId !== t.session_id) {
    $("d-chat").dataset.sessionId = t.session_id;
    showTranscript($("d-chat"), t.session_id, { visitor: c.name });
  } else if (!t.session_id) {
    delete $("d-chat").dataset.sessionId;
    $("d-chat").replaceChildren();
  }
  $("d-facts").replaceChildren(
    ...fact("customer", [c.name, c.id].filter(Boolean).join(" · ")),
    ...fact("contact", c.contact),
    ...fact("order", t.order_ref),
    ...fact("group", groupName(t.group_id)),
    ...fact("assignee", t.assignee),
    ...fact("created", tr("tk.created_at_by", { time: dateTime(t.created_at), who: t.created_by || DASH })),
    ...fact("updated", dateTime(t.updated_at)),
  );

  const moves = t.next_statuses || [];
  $("d-moves").replaceChildren(...(moves.length
    ? moves.map((to) => h("button", { type: "button", className: to === "closed" ? "ghost" : "",
      text: to === "open" && t.status !== "solved" ? tr("tk.move.mark_open") : known(MOVES, to, "tk.move"),
      dataset: { testid: `tk-move-${to}` }, on: { click: () => change({ status: to }) } }))
    : [h("p", { className: "muted", text: tr("tk.final") })]));

  const closed = t.status === "closed";
  $("e-status").value = t.status;
  $("e-priority").value = t.priority;
  $("e-assignee").value = t.assignee || "";
  for (const el of $("edit").elements) el.disabled = closed;
  for (const el of $("comment").elements) el.disabled = closed;
  $("c-text").placeholder = tr(closed ? "tk.closed_no_comments" : "tk.add_comment_ph");

  $("d-comments").replaceChildren(...(t.comments.length ? t.comments.map((cm) => h("li", { dataset: { testid: "tk-comment" } },
    h("div", { className: "tk-comment-head" }, h("strong", { text: cm.author_name || cm.author_id, dataset: { userContent: "" } }),
      h("span", { className: "muted", text: dateTime(cm.created_at) })),
    h("p", { text: cm.text, dataset: { userContent: "" } }))) : [h("li", { className: "muted tk-none", text: tr("tk.no_comments") })]));

  const created = h("li", { dataset: { testid: "tk-change" } }, h("span", { className: "muted", text: dateTime(t.created_at) }),
    h("span", {}, ...parts(t.source ? "tk.created_by_source" : "tk.created_by",
      { who: person(t.created_by || DASH), source: sourceWord(t.source) })));
  $("d-history").replaceChildren(created, ...t.history.map((ch) => h("li", { dataset: { testid: "tk-change", field: ch.field } },
    h("span", { className: "muted", text: dateTime(ch.at) }),
    h("span", {}, ...parts("tk.changed", { who: person(ch.by_name || ch.by),
      field: known(FIELDS, ch.field, "tk.field"), from: shown(ch, ch.from), to: shown(ch, ch.to) })))));
}

const person = (name) => h("span", { text: name, dataset: { userContent: "" } });

// A changed value: a status or priority in words, a person or a text as written.
function shown(change, value) {
  if (value === null || value === undefined || value === "") return change.field === "assignee" ? tr("tk.nobody_value") : DASH;
  if (change.field === "status" || change.field === "priority") return word(change.field, value);
  return person(change.field === "subject" || change.field === "description" ? `“${value}”` : String(value));
}

/** PATCH the ticket at the version read; the server's refusal is shown as it says it. */
async function change(fields) {
  const t = state.detail;
  if (!t) return;
  const status = $("edit-status");
  setText(status, tr("tk.saving"));
  try {
    await api(`/tickets/${encodeURIComponent(t.ticket_id)}`, { method: "PATCH", body: { ...fields, version: t.version } });
    await openTicket(t.ticket_id, { focus: false });
    setText(status, tr("tk.saved"), "ok");
    loadList();
  } catch (err) {
    if (err.code === "conflict") {
      await openTicket(t.ticket_id, { focus: false });
      setText(status, tr("tk.conflict"), "error");
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
  if (!Object.keys(fields).length) { setText($("edit-status"), tr("tk.nothing_changed"), ""); return; }
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
    setText(status, tr("tk.comment_added"), "ok");
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
  // The groups' names first (one small read), so that rows and the ticket name their group in the page's words;
  // without them the ids are shown.
  loadGroups().then((groups) => { for (const id of groups.keys()) state.groups.add(id); }).catch(() => {})
    .then(() => {
      loadList();
      const ticket = params.get("ticket");
      if (ticket) openTicket(ticket);
    });
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

gate({ roles: ["agent", "supervisor", "admin"], deniedText: tr("tk.denied"), onStart: start });
