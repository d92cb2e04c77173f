// Customer: what the session knows of the visitor, the transfer note, and their past sessions.

import { api } from "../auth.js";
import { $, h, DASH, dateTime } from "../ui.js";
import { PRESENCE, closedHow, currentSession, state, subscribe } from "./store.js";
import { codeText, t } from "../i18n.js";
import { groupName } from "../group-names.js";

function renderCustomer() {
  const s = currentSession();
  const dl = $("visitor-info");
  const noteBox = $("transfer-note-box");
  if (!s) {
    dl.replaceChildren(h("dt", { text: t("con.fact.visitor") }), h("dd", { text: DASH }));
    noteBox.hidden = true;
    $("past-sessions").replaceChildren();
    return;
  }
  // [field, value, the value is the page's words (not the visitor's data)]
  const rows = [
    ["name", s.visitor_name], ["visitor_id", s.visitor_id], ["channel", codeText("channel", s.channel)],
    ["source", s.source], ["category", codeText("category", s.category)], ["tier", codeText("tier", s.tier)],
    ["language", codeText("lang.name", s.language)],
    ["presence", s.status === "closed" ? t("con.chat_ended") : PRESENCE[s.visitor_presence || "online"], true],
    ["group", groupName(s.group_id)], ["assigned", s.assigned_at ? dateTime(s.assigned_at) : null, true],
    ["transfers", s.transfers ? String(s.transfers) : null],
  ];
  dl.replaceChildren(...rows.flatMap(([field, v, words]) => [
    h("dt", { text: t(`con.fact.${field}`) }),
    h("dd", { text: v || DASH, dataset: { field, ...(words ? {} : { userContent: "" }) } })]));
  if (s.transfer) {
    noteBox.hidden = false;
    noteBox.replaceChildren(h("strong", { text: t("con.transferred_by", { from: s.transfer.from }) }),
      s.transfer.note ? h("p", { text: s.transfer.note, dataset: { userContent: "" } }) : h("p", { text: t("con.no_note") }));
  } else {
    noteBox.hidden = true;
  }
  loadPastSessions(s);
}

// Past sessions: GET /api/visitors/{visitor_id}/sessions. A server without it answers 404; then "—".
const pastCache = new Map(); // visitor id -> {at, sessions | null}

async function loadPastSessions(s) {
  const list = $("past-sessions");
  const visitorId = s.visitor_id;
  const cached = pastCache.get(visitorId);
  let sessions = cached && Date.now() - cached.at < 60_000 ? cached.sessions : undefined;
  if (sessions === undefined) {
    list.replaceChildren(h("li", { className: "muted", text: t("common.loading") }));
    try {
      sessions = (await api(`/visitors/${encodeURIComponent(visitorId)}/sessions?limit=10`)).sessions;
    } catch (err) {
      sessions = err.status === 404 || err.status === 501 ? null : err;
    }
    if (!(sessions instanceof Error)) pastCache.set(visitorId, { at: Date.now(), sessions });
  }
  if (state.current !== s.session_id) return;
  if (sessions instanceof Error) {
    list.replaceChildren(h("li", { className: "muted", text: t("con.could_not_load", { message: sessions.message }) }));
    return;
  }
  if (sessions === null) {
    list.replaceChildren(h("li", { className: "muted", text: DASH }));
    return;
  }
  const past = sessions.filter((p) => p.session_id !== s.session_id);
  if (!past.length) {
    list.replaceChildren(h("li", { className: "muted", text: t("con.none_before") }));
    return;
  }
  list.replaceChildren(...past.map((p) => {
    const survey = p.survey && p.survey.status === "answered" ? `${"★".repeat(p.survey.stars)}` : "";
    const how = p.status === "closed" ? closedHow(p.close_reason)
      : ["active", "waiting"].includes(p.status) ? t(`con.past.status.${p.status}`) : p.status;
    return h("li", { dataset: { testid: "past-session" } },
      h("span", { className: "ac-past-when", text: dateTime(p.created_at) }),
      h("span", { text: how }), " · ",
      h("span", { text: p.agent_id ? t("con.past.with", { agent: p.agent_name || p.agent_id }) : t("con.past.robot_only") }),
      p.category ? " · " : null, p.category ? h("span", { text: codeText("category", p.category), dataset: { userContent: "" } }) : null,
      survey ? h("span", { className: "ac-stars", text: survey, attrs: { "aria-label": t("con.stars", { n: p.survey.stars }) } }) : null);
  }));
}

subscribe("tools", renderCustomer);
subscribe("customer", renderCustomer);
