// Answers: the SOP assistant's FAQ answers for the visitor's latest message (or the agent's own search),
// each sent in one click or put in the reply box to edit first.

import { $, h } from "../ui.js";
import { draft, sendOwn } from "./chat.js";
import { setText } from "./format.js";
import { currentSession, state, subscribe } from "./store.js";
import { codeText, t } from "../i18n.js";

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
  setText($("sop-query-shown"), frame && frame.query ? t("con.answers.for", { query: frame.query }) : "");
  if (!frame || !frame.suggestions.length) {
    box.replaceChildren(h("p", { className: "empty", text: t(frame ? "con.answers.none" : "con.answers.hint") }));
    return;
  }
  box.replaceChildren(...frame.suggestions.map((s) => {
    const why = s.why && s.why.matched ? h("span", { text: t("con.answers.matched", { text: s.why.matched }) }) : null;
    const score = typeof s.score === "number" ? h("span", { text: t("con.answers.score", { score: s.score.toFixed(2) }) }) : null;
    const category = s.category ? h("span", { text: codeText("faq.category", s.category), dataset: { userContent: "" } }) : null;
    const facts = [why, score, category].filter(Boolean).flatMap((el, i) => (i ? [" · ", el] : [el]));
    return h("div", { className: "sop-item", dataset: { testid: "sop-item", faqId: s.faq_id } },
      h("strong", { text: s.question, dataset: { userContent: "" } }),
      h("div", { className: "why" }, ...facts),
      h("p", { text: s.answer, dataset: { userContent: "" } }),
      h("div", { className: "form-actions" },
        h("button", { type: "button", className: "small", text: t("con.answers.send"), dataset: { testid: "sop-send" },
          on: { click: () => sendOwn("text", { text: s.answer }) } }),
        h("button", { type: "button", className: "ghost small", text: t("con.answers.edit"), dataset: { testid: "sop-edit" },
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
