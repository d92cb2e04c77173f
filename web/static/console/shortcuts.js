// Keyboard shortcuts: the next chat, resolve and transfer with Alt and a letter (they work from the reply box too;
// Alt is matched by the key's place, e.code, so other keyboard layouts and macOS's Option work), and "?" (outside a
// text field) or the header's ? button for the list of them.

import { $, h } from "../ui.js";
import { openTransfer } from "./transfer.js";
import { currentSession, isOpen, select, state } from "./store.js";

// Every string this module shows, in one place.
const TEXT = {
  title: "Keyboard shortcuts",
  close: "Close",
  help: "Keyboard shortcuts (?)",
  keys: [
    ["Alt + N", "Next chat (the one waiting longest after this one)"],
    ["Alt + R", "Resolve the open chat"],
    ["Alt + T", "Transfer the open chat"],
    ["/", "In the reply box: search the shared and your own replies; ↑ ↓ to pick, Enter to insert, Esc to close"],
    ["Enter", "Send the reply (Shift + Enter: a new line)"],
    ["?", "This list (outside a text field)"],
    ["Esc", "Close a dialog or list"],
  ],
};

const ALT = { KeyN: nextChat, KeyR: resolve, KeyT: transfer };

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

function showHelp() {
  const dialog = $("help-dialog");
  dialog.replaceChildren(h("h2", { id: "help-title", text: TEXT.title }),
    h("dl", { className: "ac-keys", dataset: { testid: "help-keys" } },
      ...TEXT.keys.flatMap(([keys, what]) => [h("dt", {}, h("kbd", { text: keys })), h("dd", { text: what })])),
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
