// Answers: the SOP assistant's FAQ answers for the visitor's latest message (or the agent's own search),
// each sent in one click or put in the reply box to edit first.

import { $, h } from "../ui.js";
import { draft, sendOwn } from "./chat.js";
import { setText } from "./format.js";
import { currentSession, state, subscribe } from "./store.js";

/** A `suggestions` frame: kept for its session, shown if that is the open one. */
export function suggestionsArrived(frame) {
  state.suggestions.set(frame.session_id, frame);
  if (frame.session_id === state.current) renderSuggestions();
}

/** The server refused the search (an `error` answer to `suggest`). */
export function suggestRefused(message) {
  setText($("sop-query-shown"), message, "error");
}

function renderSuggestions() {
  const box = $("sop-list");
  const frame = state.current ? state.suggestions.get(state.current) : null;
  const count = $("answers-count");
  count.hidden = !frame || !frame.suggestions.length;
  count.textContent = frame ? String(frame.suggestions.length) : "";
  setText($("sop-query-shown"), frame && frame.query ? `For “${frame.query}”` : "");
  if (!frame || !frame.suggestions.length) {
    box.replaceChildren(h("p", { className: "empty", text: frame
      ? "No FAQ matches this. Try other words in the search above."
      : "FAQ answers for the visitor's messages appear here." }));
    return;
  }
  box.replaceChildren(...frame.suggestions.map((s) => {
    const why = s.why && s.why.matched ? `matched “${s.why.matched}”` : "";
    const score = typeof s.score === "number" ? `score ${s.score.toFixed(2)}` : "";
    return h("div", { className: "sop-item", dataset: { testid: "sop-item", faqId: s.faq_id } },
      h("strong", { text: s.question }),
      h("div", { className: "why", text: [why, score, s.category].filter(Boolean).join(" · ") }),
      h("p", { text: s.answer }),
      h("div", { className: "form-actions" },
        h("button", { type: "button", className: "small", text: "Send", dataset: { testid: "sop-send" },
          on: { click: () => sendOwn("text", { text: s.answer }) } }),
        h("button", { type: "button", className: "ghost small", text: "Edit first", dataset: { testid: "sop-edit" },
          on: { click: () => draft(s.answer) } })));
  }));
}

subscribe("tools", renderSuggestions);

$("sop-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const s = currentSession();
  if (!s) return;
  const text = $("sop-query").value.trim();
  const frame = { action: "suggest", session_id: s.session_id };
  if (text) frame.text = text;
  state.client.raw(frame);
  setText($("sop-query-shown"), "Searching…");
});
