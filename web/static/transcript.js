// A closed chat's transcript, read-only (GET /api/sessions/{id}/messages, docs/openapi.yaml): the console's
// conversation search and the ticket console show it the same way. Messages are drawn as text, never HTML.

import { api } from "./auth.js";
import { signBubble } from "./avatar.js";
import { renderMessage } from "./imclient.js";
import { h } from "./ui.js";
import { t } from "./i18n.js";

const PAGE = 100;
const MAX_PAGES = 20; // 2,000 messages: a transcript longer than any chat a person reads through

/** Every message of the session's history, in order; rejects as `api` does (err.status 403: not the caller's). */
export async function loadTranscript(sessionId) {
  const messages = [];
  let after = 0;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const data = await api(`/sessions/${encodeURIComponent(sessionId)}/messages?after_seq=${after}&limit=${PAGE}`);
    messages.push(...data.messages);
    if (data.next_after_seq === null || data.next_after_seq === undefined) break;
    after = data.next_after_seq;
  }
  return messages;
}

/** Who wrote a message, for its bubble: the name it was sent under, else the chat's names. */
function whoOf(m, names) {
  if (m.sender_role === "robot") return { robot: true, name: t("con.robot") };
  if (m.sender_role === "visitor") return { id: m.sender_id, name: m.sender_name || names.visitor || t("con.visitor") };
  return { id: m.sender_id, name: m.sender_name || (m.sender_id === names.agentId && names.agent) || m.sender_id };
}

/** The messages in `box`: the visitor's on the left, staff's and the robot's on the right, each signed. */
export function renderTranscript(box, messages, names = {}) {
  if (!messages.length) {
    box.replaceChildren(h("p", { className: "muted", text: t("search.transcript.empty") }));
    return;
  }
  box.replaceChildren(...messages.map((m) => {
    const el = renderMessage(m, { mine: m.sender_role !== "visitor", status: "" });
    el.dataset.testid = "transcript-msg";
    // Read only: what the visitor could press then (the robot's "Talk to a person", an order's next steps) is
    // history here, not a control.
    for (const control of el.querySelectorAll("button")) control.remove();
    return signBubble(el, whoOf(m, names));
  }));
}

/** Load and show a transcript in `box`; a refusal or failure is said in words there. */
export async function showTranscript(box, sessionId, names = {}) {
  box.replaceChildren(h("p", { className: "muted", text: t("common.loading") }));
  try {
    renderTranscript(box, await loadTranscript(sessionId), names);
  } catch (err) {
    box.replaceChildren(h("p", { className: "error", dataset: { testid: "transcript-error" },
      text: err.status === 403 ? t("search.transcript.forbidden") : t("search.transcript.failed", { message: err.message }) }));
  }
}
