// The left column's conversations: online, offline (the visitor's connection dropped) and ended, each
// with how long the visitor has been waiting for a reply.

import { api } from "../auth.js";
import { $, h, duration } from "../ui.js";
import { closedHow, nameOf, notify, select, state, subscribe, thread, waitingSince } from "./store.js";
import { codeText, t as tr } from "../i18n.js";

function waitLabel(el) {
  const from = Number(el.dataset.since);
  const seconds = (Date.now() - from) / 1000;
  el.textContent = duration(seconds);
  el.classList.toggle("late", seconds >= 60);
  el.classList.toggle("later", seconds >= 180);
}

/** The waits shown count up every second. */
export function tick() {
  document.querySelectorAll(".ac-wait[data-since]").forEach(waitLabel);
}

function sessionItem(s, testid) {
  const t = thread(s.session_id);
  const unread = state.unread.get(s.session_id) || 0;
  const name = nameOf(s);
  const top = h("span", { className: "ac-conv-top" },
    h("strong", { className: "ac-conv-name", text: name, dataset: { userContent: "" } }));
  const from = waitingSince(s);
  if (from) {
    const wait = h("span", { className: "ac-wait", dataset: { since: from, testid: "wait" },
      attrs: { title: tr("con.waiting_title") } });
    waitLabel(wait);
    top.appendChild(wait);
  } else if (s.status === "closed") {
    top.appendChild(h("span", { className: "ac-when", text: closedHow(s.close_reason) }));
    if (s.survey && s.survey.status === "answered") {
      top.appendChild(h("span", { className: "stars-shown", text: "★".repeat(s.survey.stars),
        dataset: { testid: "ended-stars" }, attrs: { "aria-label": tr("con.stars_of_5", { n: s.survey.stars }) } }));
    }
  }
  const tags = [codeText("category", s.category), codeText("channel", s.channel), s.tier && s.tier.toUpperCase()]
    .filter(Boolean).join(" · ");
  const main = h("span", { className: "ac-conv-main" }, top,
    t.preview ? h("span", { className: "ac-conv-preview", text: t.preview, dataset: { userContent: "" } })
      : h("span", { className: "ac-conv-preview", text: tr(s.transfer ? "con.transferred_to_you_short" : "con.new_chat") }),
    tags || s.transfer ? h("span", { className: "ac-conv-tags" },
      tags ? h("span", { text: tags, dataset: { userContent: "" } }) : null,
      s.transfer ? h("span", { className: "ac-tag-transfer", text: tr("con.from", { from: s.transfer.from }) }) : null) : null);
  const badge = unread
    ? h("span", { className: "unread", text: unread, dataset: { testid: "unread" },
      attrs: { "aria-label": tr("con.unread", { count: unread }) } })
    : state.fresh.has(s.session_id) ? h("span", { className: "unread ac-new", text: tr("con.new"), dataset: { testid: "unread" } }) : null;
  const button = h("button", { type: "button", className: "ac-conv",
    attrs: { "aria-current": s.session_id === state.current ? "true" : null },
    on: { click: () => select(s.session_id) } },
  h("span", { className: `ac-avatar ${s.visitor_presence || "online"}`, text: name.trim().charAt(0).toUpperCase() || "?",
    dataset: { userContent: "" }, attrs: { "aria-hidden": "true" } }), main, badge);
  return h("li", { className: s.session_id === state.current ? "selected" : "",
    dataset: { testid, sessionId: s.session_id, presence: s.visitor_presence || "online" } }, button);
}

/** Put `items` in a list of the left column, with its count and its "nothing here" line. */
export function fill(listId, emptyId, countId, items) {
  $(listId).replaceChildren(...items);
  if (emptyId) $(emptyId).hidden = items.length > 0;
  $(countId).textContent = String(items.length);
}

function renderSessions() {
  const online = [];
  const offline = [];
  const ended = [];
  for (const s of state.sessions.values()) {
    if (s.status === "closed") ended.push(s);
    else if (s.visitor_presence === "reconnecting" || s.visitor_presence === "offline") offline.push(s);
    else online.push(s);
  }
  const byWait = (a, b) => (waitingSince(a) || Infinity) - (waitingSince(b) || Infinity);
  fill("list-online", "empty-online", "count-online", online.sort(byWait).map((s) => sessionItem(s, "session-item")));
  fill("list-offline", "empty-offline", "count-offline", offline.sort(byWait).map((s) => sessionItem(s, "session-item")));
  fill("list-ended", null, "count-ended",
    ended.sort((a, b) => (b.closed_at || 0) - (a.closed_at || 0)).slice(0, 20).map((s) => sessionItem(s, "ended-item")));
}

// The chats this agent ended before this page was opened (GET /sessions?status=closed), with their ratings: read
// when the list is opened, and kept up to date by the session frames after (a rating comes as one).
let endedLoaded = false;
$("ended-group").addEventListener("toggle", async () => {
  if (!$("ended-group").open || endedLoaded) return;
  endedLoaded = true;
  try {
    const page = await api("/sessions?status=closed&limit=20");
    for (const s of page.sessions) if (!state.sessions.has(s.session_id)) state.sessions.set(s.session_id, s);
  } catch {
    endedLoaded = false;
  }
  notify("list");
});

subscribe("list", renderSessions);

// Back on the page: the open conversation has been read.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.current) { state.unread.delete(state.current); notify("list"); }
});
