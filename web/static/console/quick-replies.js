// Quick replies: the agent's own short answers (kept in this browser), one click puts one in the reply box.

import { $, h } from "../ui.js";
import { draft } from "./chat.js";
import { currentSession, isOpen } from "./store.js";
import { t } from "../i18n.js";

const QUICK_KEY = "cs.quickReplies";
// In the console's language until the agent writes their own.
const DEFAULT_QUICK_REPLIES = [1, 2, 3, 4, 5].map((n) => t(`con.quick.default.${n}`));

/** This browser's own replies (the defaults until the agent edits them); "/" in the reply box finds them too. */
export function quickReplies() {
  try {
    const saved = JSON.parse(localStorage.getItem(QUICK_KEY) || "null");
    if (Array.isArray(saved) && saved.every((x) => typeof x === "string")) return saved;
  } catch {
    // fall through to the defaults
  }
  return DEFAULT_QUICK_REPLIES;
}

export function renderQuick() {
  const open = isOpen(currentSession());
  $("quick").replaceChildren(...quickReplies().map((text) => h("button", {
    type: "button", className: "ac-chip", text, disabled: !open, dataset: { testid: "quick-reply", userContent: "" },
    attrs: { title: t("con.quick.title") },
    on: { click: () => draft(text) },
  })));
}

$("quick-edit").addEventListener("click", () => {
  $("quick-text").value = quickReplies().join("\n");
  $("quick-editor").hidden = false;
  $("quick-text").focus();
});
$("quick-cancel").addEventListener("click", () => { $("quick-editor").hidden = true; });
$("quick-reset").addEventListener("click", () => { $("quick-text").value = DEFAULT_QUICK_REPLIES.join("\n"); });
$("quick-editor").addEventListener("submit", (e) => {
  e.preventDefault();
  const lines = $("quick-text").value.split("\n").map((l) => l.trim()).filter(Boolean).slice(0, 20);
  localStorage.setItem(QUICK_KEY, JSON.stringify(lines));
  $("quick-editor").hidden = true;
  renderQuick();
});
