// Transfer: hand the open chat to a colleague who is online with a free slot, or to a group's queue (first in
// line), picked from GET /api/transfer-targets, with a note for whoever takes it. The list is read each time the
// dialog opens (and on Refresh), so the loads it shows are fresh. The dialog stays open until the server answers:
// the session leaves this page, or an error says why not.

import { api } from "../auth.js";
import { $, h } from "../ui.js";
import { currentSession, isOpen, nameOf, state } from "./store.js";
import { lang, localName, t } from "../i18n.js";

// Every string this dialog shows, in one place, from the page's catalogue.
const TEXT = {
  title: (name) => t("con.transfer.title", { name }),
  agents: t("con.transfer.agents"),
  groups: t("con.transfer.groups"),
  loading: t("con.transfer.loading"),
  noAgents: t("con.transfer.no_agents"),
  agentLoad: (a) => t("con.transfer.agent_load", { active: a.active, capacity: a.capacity, free: a.free_slots }),
  groupLoad: (g) => t("con.transfer.group_load", { online: g.online_agents, free: g.free_slots, waiting: g.waiting }),
  note: t("con.transfer.note"),
  notePlaceholder: t("con.transfer.note_ph"),
  submit: t("con.transfer.submit"),
  refresh: t("con.transfer.refresh"),
  cancel: t("con.transfer.cancel"),
  pick: t("con.transfer.pick"),
  offline: t("con.transfer.offline"),
  failed: (message) => t("con.transfer.failed", { message }),
};

let picked = null; // {kind: "agent" | "group", id}

function form() {
  const note = h("textarea", { id: "transfer-note", rows: 3, maxLength: 1000, placeholder: TEXT.notePlaceholder,
    dataset: { testid: "transfer-note-input" } });
  return [
    h("h2", { id: "transfer-title", text: TEXT.title("") }),
    h("p", { className: "status", id: "transfer-status", dataset: { testid: "transfer-status" }, attrs: { role: "status" } }),
    h("h3", { id: "transfer-agents-h", text: TEXT.agents }),
    h("ul", { className: "ac-targets", id: "transfer-agents", dataset: { testid: "transfer-agents" },
      attrs: { "aria-labelledby": "transfer-agents-h" } }),
    h("h3", { id: "transfer-groups-h", text: TEXT.groups }),
    h("ul", { className: "ac-targets", id: "transfer-groups", dataset: { testid: "transfer-groups" },
      attrs: { "aria-labelledby": "transfer-groups-h" } }),
    h("div", { className: "field" }, h("label", { text: TEXT.note, attrs: { for: "transfer-note" } }), note),
    h("p", { className: "field-error", id: "transfer-error", dataset: { testid: "transfer-error" }, attrs: { role: "alert" } }),
    h("div", { className: "form-actions" },
      h("button", { type: "submit", id: "transfer-submit", text: TEXT.submit, dataset: { testid: "transfer-submit" } }),
      h("button", { type: "button", className: "ghost", id: "transfer-refresh", text: TEXT.refresh,
        dataset: { testid: "transfer-refresh" }, on: { click: loadTargets } }),
      h("button", { type: "button", className: "ghost", id: "transfer-cancel", text: TEXT.cancel,
        on: { click: () => { state.transferFor = null; $("transfer-dialog").close(); } } })),
  ];
}

function choose(kind, id) {
  picked = { kind, id };
  $("transfer-error").textContent = "";
  document.querySelectorAll("#transfer-dialog [data-testid=transfer-target]").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.kind === kind && b.dataset.id === id));
  });
}

function target(kind, id, name, load) {
  return h("li", {}, h("button", { type: "button", className: "ac-target",
    dataset: { testid: "transfer-target", kind, id }, attrs: { "aria-pressed": "false" },
    on: { click: () => choose(kind, id), dblclick: () => { choose(kind, id); $("transfer-form").requestSubmit(); } } },
  h("strong", { text: name, dataset: { userContent: "" } }), h("span", { className: "muted", text: load })));
}

async function loadTargets() {
  const status = $("transfer-status");
  status.textContent = TEXT.loading;
  try {
    const found = await api("/transfer-targets");
    const agents = found.agents.map((a) => target("agent", a.id, a.name, TEXT.agentLoad(a)));
    $("transfer-agents").replaceChildren(...(agents.length ? agents
      : [h("li", { className: "muted", text: TEXT.noAgents, dataset: { testid: "transfer-no-agents" } })]));
    // Listed by name in the page's language (the server sorts by the English one).
    const groups = found.groups.map((g) => ({ ...g, shown: localName(g, g.id) }))
      .sort((a, b) => a.shown.localeCompare(b.shown, lang));
    $("transfer-groups").replaceChildren(...groups.map((g) => target("group", g.id, g.shown, TEXT.groupLoad(g))));
    status.textContent = "";
    if (picked) choose(picked.kind, picked.id);
  } catch (err) {
    status.textContent = TEXT.failed(err.message);
  }
}

/** Open the dialog for the open chat (the Transfer button, or its shortcut). */
export function openTransfer() {
  const s = currentSession();
  if (!isOpen(s)) return;
  $("transfer-form").reset();
  picked = null;
  $("transfer-error").textContent = "";
  $("transfer-submit").disabled = false;
  $("transfer-title").textContent = TEXT.title(nameOf(s));
  $("transfer-agents").replaceChildren();
  $("transfer-groups").replaceChildren();
  $("transfer-dialog").showModal();
  loadTargets();
}

function submitTransfer(e) {
  e.preventDefault();
  const s = currentSession();
  if (!isOpen(s)) { $("transfer-dialog").close(); return; }
  if (!picked) { $("transfer-error").textContent = TEXT.pick; return; }
  const frame = { action: "transfer", session_id: s.session_id };
  frame[picked.kind === "group" ? "to_group" : "to_agent"] = picked.id;
  const note = $("transfer-note").value.trim();
  if (note) frame.note = note;
  $("transfer-error").textContent = "";
  if (!state.client.raw(frame)) { $("transfer-error").textContent = TEXT.offline; return; }
  state.transferFor = s.session_id;
  $("transfer-submit").disabled = true;
}

/** The session `id` was transferred: close the dialog if it was asked for from here. */
export function transferred(id) {
  if (state.transferFor !== id) return;
  state.transferFor = null;
  $("transfer-dialog").close();
}

/** The server refused the transfer; its message says what to do instead (e.g. agent_unavailable). The list is read
 * again, since whoever was picked is likely no longer free. */
export function transferRefused(message) {
  $("transfer-error").textContent = message;
  $("transfer-submit").disabled = false;
  state.transferFor = null;
  loadTargets();
}

$("transfer-form").replaceChildren(...form());
$("transfer-open").addEventListener("click", openTransfer);
$("transfer-form").addEventListener("submit", submitTransfer);
