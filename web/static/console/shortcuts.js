// Keyboard shortcuts: the next chat, resolve, transfer and an internal note with Alt and a letter (they work from the reply box too;
// Alt is matched by the key's place, e.code, so other keyboard layouts and macOS's Option work), and "?" (outside a
// text field) or the header's ? button for the list of them.

import { $, h } from "../ui.js";
import { openTransfer } from "./transfer.js";
import { currentSession, isOpen, select, state } from "./store.js";
import { t } from "../i18n.js";

// Every string this module shows, in one place, from the page's catalogue (the keys are the keyboard's names).
const TEXT = {
  title: t("con.help.title"),
  close: t("con.help.close"),
  help: t("con.help.button"),
  keys: [
    ["Alt + N", t("con.help.next")],
    ["Alt + R", t("con.help.resolve")],
    ["Alt + T", t("con.help.transfer")],
    ["Alt + I", t("con.help.note")],
    ["/", t("con.help.slash")],
    ["Enter", t("con.help.enter")],
    ["?", t("con.help.question")],
    ["Esc", t("con.help.esc")],
  ],
};

const ALT = { KeyN: nextChat, KeyR: resolve, KeyT: transfer, KeyI: note };

function nextChat() {
  const ids = [...document.querySelectorAll("#list-online li[data-session-id], #list-offline li[data-session-id]")]
    .map((li) => li.dataset.sessionId);
  if (!ids.length) return;
  const at = ids.indexOf(state.current);
  select(ids[(at + 1) % ids.length]);
  $("input").focus();
}

function resolve() {
  if (isOpen(currentSession())) $("resolve").click();
}

function transfer() {
  if (isOpen(currentSession())) openTransfer();
}

function note() {
  if (!$("note-open").disabled) $("note-open").click();
}

function showHelp() {
  const dialog = $("help-dialog");
  dialog.replaceChildren(h("h2", { id: "help-title", text: TEXT.title }),
    h("dl", { className: "ac-keys", dataset: { testid: "help-keys" } },
      ...TEXT.keys.flatMap(([keys, what]) => [h("dt", {}, h("kbd", { text: keys, dataset: { userContent: "" } })),
        h("dd", { text: what })])),
    h("div", { className: "form-actions" },
      h("button", { type: "button", text: TEXT.close, on: { click: () => dialog.close() } })));
  if (!dialog.open) dialog.showModal();
}

function typing(el) {
  return el instanceof HTMLElement && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

document.addEventListener("keydown", (e) => {
  if (e.isComposing || e.defaultPrevented || document.querySelector("dialog[open]:not(#help-dialog)")) return;
  if (e.altKey && !e.ctrlKey && !e.metaKey && ALT[e.code]) {
    e.preventDefault();
    ALT[e.code]();
  } else if (e.key === "?" && !e.altKey && !e.ctrlKey && !e.metaKey && !typing(e.target)) {
    e.preventDefault();
    showHelp();
  }
});
$("help-open").setAttribute("title", TEXT.help);
$("help-open").setAttribute("aria-label", TEXT.help);
$("help-open").addEventListener("click", showHelp);
