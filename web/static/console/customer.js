// Customer: what the session knows of the visitor, the transfer note, and their past sessions.

import { api } from "../auth.js";
import { $, h, DASH, dateTime } from "../ui.js";
import { CLOSE_REASONS, PRESENCE, currentSession, state, subscribe } from "./store.js";

function renderCustomer() {
  const s = currentSession();
  const dl = $("visitor-info");
  const noteBox = $("transfer-note-box");
  if (!s) {
    dl.replaceChildren(h("dt", { text: "Visitor" }), h("dd", { text: DASH }));
    noteBox.hidden = true;
    $("past-sessions").replaceChildren();
    return;
  }
  const rows = [
    ["Name", s.visitor_name], ["Visitor id", s.visitor_id], ["Channel", s.channel], ["Source", s.source],
    ["Category", s.category], ["Tier", s.tier], ["Language", s.language],
    ["Presence", s.status === "closed" ? "chat ended" : PRESENCE[s.visitor_presence || "online"]],
    ["Group", s.group_id], ["Assigned", s.assigned_at ? dateTime(s.assigned_at) : null],
    ["Transfers", s.transfers ? String(s.transfers) : null],
  ];
  dl.replaceChildren(...rows.flatMap(([k, v]) => [
    h("dt", { text: k }), h("dd", { text: v || DASH, dataset: { field: k.toLowerCase().replace(/\s+/g, "_") } })]));
  if (s.transfer) {
    noteBox.hidden = false;
    noteBox.replaceChildren(h("strong", { text: `Transferred by ${s.transfer.from}` }),
      h("p", { text: s.transfer.note || "No note." }));
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
    list.replaceChildren(h("li", { className: "muted", text: "Loading…" }));
    try {
      sessions = (await api(`/visitors/${encodeURIComponent(visitorId)}/sessions?limit=10`)).sessions;
    } catch (err) {
      sessions = err.status === 404 || err.status === 501 ? null : err;
    }
    if (!(sessions instanceof Error)) pastCache.set(visitorId, { at: Date.now(), sessions });
  }
  if (state.current !== s.session_id) return;
  if (sessions instanceof Error) {
    list.replaceChildren(h("li", { className: "muted", text: `Could not load: ${sessions.message}` }));
    return;
  }
  if (sessions === null) {
    list.replaceChildren(h("li", { className: "muted", text: DASH }));
    return;
  }
  const past = sessions.filter((p) => p.session_id !== s.session_id);
  if (!past.length) {
    list.replaceChildren(h("li", { className: "muted", text: "None before this chat." }));
    return;
  }
  list.replaceChildren(...past.map((p) => {
    const survey = p.survey && p.survey.status === "answered" ? `${"★".repeat(p.survey.stars)}` : "";
    const how = p.status === "closed" ? CLOSE_REASONS[p.close_reason] || "ended" : p.status;
    return h("li", { dataset: { testid: "past-session" } },
      h("span", { className: "ac-past-when", text: dateTime(p.created_at) }),
      h("span", { text: [how, p.agent_id ? `with ${p.agent_name || p.agent_id}` : "robot only", p.category].filter(Boolean).join(" · ") }),
      survey ? h("span", { className: "ac-stars", text: survey, attrs: { "aria-label": `${p.survey.stars} stars` } }) : null);
  }));
}

subscribe("tools", renderCustomer);
subscribe("customer", renderCustomer);
