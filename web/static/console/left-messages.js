// Left messages of the agent's groups (messages visitors left outside service hours, each a ticket),
// refreshed on a timer, on the Refresh button and when the server says a new one was left.

import { api } from "../auth.js";
import { $, h, dateTime } from "../ui.js";
import { ticketStatusPill } from "./format.js";
import { fill } from "./sessions.js";
import { notify, state, subscribe } from "./store.js";
import { t } from "../i18n.js";
import { groupName } from "../group-names.js";

const EMPTY = t("con.left.empty");

function leftItem(m) {
  const link = h("a", {
    className: "ac-conv ac-left-message",
    href: `/tickets?ticket=${encodeURIComponent(m.ticket_id)}`,
    target: "_blank",
    rel: "opener", // the ticket console shares this tab's sign-in
    attrs: { title: t("con.left.open") },
  },
  h("span", { className: "ac-avatar left", text: (m.visitor_name || "?").trim().charAt(0).toUpperCase() || "?",
    dataset: { userContent: "" }, attrs: { "aria-hidden": "true" } }),
  h("span", { className: "ac-conv-main" },
    h("span", { className: "ac-conv-top" },
      m.visitor_name || m.contact || m.visitor_id
        ? h("strong", { className: "ac-conv-name", text: m.visitor_name || m.contact || m.visitor_id, dataset: { userContent: "" } })
        : h("strong", { className: "ac-conv-name", text: t("con.visitor") }),
      h("span", { className: "ac-when", text: dateTime(m.created_at) })),
    h("span", { className: "ac-conv-preview", text: m.text, dataset: { userContent: "" } }),
    h("span", { className: "ac-conv-tags" },
      h("span", { text: [groupName(m.group_id), m.contact].filter(Boolean).join(" · "), dataset: { userContent: "" } }),
      ticketStatusPill(m.status))));
  return h("li", { dataset: { testid: "left-item", ticketId: m.ticket_id } }, link);
}

function renderLeftMessages() {
  fill("list-left", "empty-left", "count-left", state.leftMessages.map(leftItem));
  if (state.leftError) {
    $("empty-left").hidden = false;
    $("empty-left").textContent = state.leftError;
  }
}

let leftAsked = 0;

export async function loadLeftMessages() {
  const asked = ++leftAsked; // a refresh click and the timer may cross: the latest answer wins
  try {
    const data = await api("/left-messages?limit=50");
    if (asked !== leftAsked) return;
    state.leftMessages = data.left_messages.filter((m) => m.status === "open" || m.status === "pending");
    state.leftError = "";
    $("empty-left").textContent = EMPTY;
  } catch (err) {
    if (asked !== leftAsked) return;
    state.leftError = t("con.left.failed", { message: err.message });
  }
  notify("list");
}

subscribe("list", renderLeftMessages);

$("refresh-left").addEventListener("click", loadLeftMessages);
