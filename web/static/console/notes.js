// Internal notes: staff write them in the chat ("@carol" mentions a colleague, who is notified), the visitor
// never sees them (docs/protocol.md, section 2.9). A note is a yellow bubble marked "internal note" with its
// author's name, in its place in the conversation.

import { shortTime, t } from "../i18n.js";
import { $, h } from "../ui.js";
import { alertAgent, toast } from "./alerts.js";
import { currentSession, nameOf, notify, state } from "./store.js";

const TEXT = {
  by: (name) => t("con.note.by", { name }),
  mentioned: (name, text) => t("con.note.mentioned", { name, text }),
  failed: (message) => t("con.note.failed", { message }),
  cannotMention: (name) => t("con.note.cannot_mention", { name }),
};
// "@name" in a note's words names a colleague to notify (staff user names: letters, digits, _ . @ -).
const MENTION = /(?:^|\s)@([A-Za-z0-9][A-Za-z0-9_.-]{0,63})/g;

/** The user names a note's text mentions, each once, at most 5 (the server's limit). */
export function mentionsOf(text) {
  return [...new Set([...text.matchAll(MENTION)].map((m) => m[1]))].filter((n) => n !== state.me.id).slice(0, 5);
}

/** Whether this page may write notes in `s`: an open chat it serves or oversees (the server decides finally). */
export function canNote(s) {
  return Boolean(s) && ["bot", "waiting", "active"].includes(s.status);
}

/** The bubble of a note: "Internal note · Carol Wang", the words, the time. */
export function renderNote(m) {
  const name = m.sender_id === state.me.id ? state.me.name || state.me.id : m.sender_name || m.sender_id;
  const el = h("div", { className: `msg ac-note ${m.sender_id === state.me.id ? "mine" : "theirs"}`,
    dataset: { testid: "note", type: "note", messageId: m.message_id, seq: m.seq, role: m.sender_role } },
  h("div", { className: "bubble" },
    h("p", { className: "ac-note-label", text: TEXT.by(name) }),
    h("p", { text: (m.content && m.content.text) || "", dataset: { userContent: "" } })),
  h("div", { className: "meta" }, h("span", { text: shortTime(m.created_at || Date.now()) })));
  return el;
}

/** `note`: a note in a chat this page shows, or one that mentions its user (then the chat is added to the list
 *  if it is not there, and the user is told as for a new chat). `addMessage` places it. */
export function noteArrived(frame, addMessage) {
  const m = frame.message;
  unanswered.delete(m.client_msg_id);
  if (frame.session && !state.sessions.has(m.session_id)) {
    const s = frame.session;
    // A chat this user does not serve: shown to read and to answer with notes, not to reply to the visitor.
    state.sessions.set(m.session_id, { ...s, observed: s.agent_id !== state.me.id });
  }
  addMessage(m);
  if (frame.mentioned && m.sender_id !== state.me.id) {
    toast(TEXT.mentioned(m.sender_name || m.sender_id, (m.content && m.content.text) || ""));
    alertAgent({ sessionId: m.session_id, note: m });
  }
  notify("list");
  if (m.session_id === state.current) notify("thread");
}

// The notes sent and not yet answered, by client_msg_id: a refusal names one of their mentions by its index
// ("mentions[0]"), and gives the words back to the box to send again.
const unanswered = new Map();

/** An error answer to a note: shown (a mention refused is named in the page's language, since staff get the
 *  server's detail in English), with the words put back in the box to send again. */
export function noteRefused(e) {
  const note = unanswered.get(e.client_msg_id);
  unanswered.delete(e.client_msg_id);
  const at = /^mentions\[(\d+)\]$/.exec(e.field || "");
  const who = note && at ? note.mentions[Number(at[1])] : null;
  toast(who ? TEXT.cannotMention(who) : TEXT.failed(e.message || e.code), "error");
  if (note && !$("note-input").value.trim()) {
    $("note-input").value = note.text;
    $("note-form").hidden = false;
  }
}

// -- the note box ----------------------------------------------------------------------------------------

let sent = 0;

function send(e) {
  e.preventDefault();
  const s = currentSession();
  const text = $("note-input").value.trim();
  if (!text || !canNote(s)) return;
  const mentions = mentionsOf(text);
  sent += 1;
  const clientMsgId = `n-${Date.now().toString(36)}-${sent}`;
  unanswered.set(clientMsgId, { text, mentions });
  state.client.raw({ action: "note", session_id: s.session_id, client_msg_id: clientMsgId,
    text, ...(mentions.length ? { mentions } : {}) });
  $("note-input").value = "";
  $("note-form").hidden = true;
  $("input").focus();
}

$("note-open").addEventListener("click", () => {
  $("note-form").hidden = false;
  $("note-input").focus();
});
$("note-cancel").addEventListener("click", () => { $("note-form").hidden = true; });
$("note-form").addEventListener("submit", send);
$("note-input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("note-form").requestSubmit();
  }
  if (e.key === "Escape") $("note-form").hidden = true;
});

/** The note box follows the chat on screen: open for an open chat, closed otherwise. */
export function paintNoteBox() {
  const s = currentSession();
  $("note-open").disabled = !canNote(s);
  if (!canNote(s)) $("note-form").hidden = true;
  const name = s ? nameOf(s) : "";
  $("note-open").dataset.chat = name;
}
