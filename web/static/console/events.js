// What the server says over the WebSocket (docs/protocol.md), turned into changes of the store and
// calls on the panel each event is about.

import { expired } from "../auth.js";
import { $, clock } from "../ui.js";
import { alertAgent, showConnection, toast } from "./alerts.js";
import { suggestRefused, suggestionsArrived } from "./answers.js";
import { statusChanged, statusRefused } from "./availability.js";
import {
  addMessage, delivered, loadHistory, notice, read, resendLater, sendFailed, sendRefused, stored, typing,
} from "./chat.js";
import { loadLeftMessages } from "./left-messages.js";
import { closedHow, dropSession, isOpen, nameOf, notify, select, state } from "./store.js";
import { t } from "../i18n.js";
import { groupName } from "../group-names.js";
import { noteArrived, noteRefused } from "./notes.js";
import { transferRefused, transferred } from "./transfer.js";

export function onEvent(name, data) {
  switch (name) {
    case "state": return connectionState(data);
    case "welcome": return onWelcome(data);
    case "session": return onSession(data);
    case "message": return onMessage(data);
    case "note": return noteArrived(data, addMessage);
    case "delivered": return delivered(data);
    case "read": return read(data);
    case "typing": return typing(data);
    case "stored": return stored(data);
    case "send_failed": return sendFailed(data);
    case "status": return statusChanged(data);
    case "suggestions": return suggestionsArrived(data);
    case "left_message": return loadLeftMessages(); // a visitor of one of our groups just left one
    case "idle_warning": return onIdleWarning(data);
    case "visitor_presence": return onPresence(data);
    case "error": return onError(data);
    default: return undefined; // "notice" is the visitor's wording of a transfer; pong
  }
}

function connectionState(value) {
  const conn = $("conn");
  conn.textContent = t(`con.conn.${value}`);
  conn.dataset.state = value === "open" ? "live" : value;
  showConnection(value);
  if (value === "refused") expired(state.client.token); // never accepted: most likely the token was refused
}

function onWelcome(frame) {
  const active = new Set();
  for (const s of frame.sessions || []) {
    active.add(s.session_id);
    const known = state.sessions.get(s.session_id);
    state.sessions.set(s.session_id, known ? { ...known, ...s } : s);
    if (!known && s.transfer) transferNote(s);
  }
  // Chats that ended or left while this page was disconnected.
  for (const [id, s] of [...state.sessions]) {
    if (isOpen(s) && !active.has(id)) dropSession(id);
  }
  if (!state.current && frame.sessions && frame.sessions.length) select(frame.sessions[0].session_id);
  else { notify("list"); notify("chat"); }
}

function transferNote(s) {
  const text = s.transfer.note ? t("con.transferred_to_you", { from: s.transfer.from, note: s.transfer.note })
    : t("con.transferred_to_you_no_note", { from: s.transfer.from });
  // After the history the chat had when it was handed over, which loads after this line is placed.
  notice(s.session_id, text, "transfer", s.last_seq || 0);
}

function onSession(s) {
  const id = s.session_id;
  const known = state.sessions.get(id);
  if (s.status === "transferred") {
    // Handed on: the chat is the next agent's now.
    if (known) toast(t("con.transferred_away", { name: nameOf(known), to: s.agent_id || groupName(s.group_id) || t("con.a_colleague") }));
    transferred(id);
    dropSession(id);
    notify("list");
    return;
  }
  if (s.status !== "active" && s.status !== "closed") return;
  const merged = known ? { ...known, ...s } : s;
  state.sessions.set(id, merged);
  if (!known && s.status === "active") {
    state.fresh.add(id);
    if (s.transfer) transferNote(merged);
    alertAgent({ sessionId: id });
    loadHistory(id);
  }
  if (known && known.status !== "closed" && s.status === "closed") {
    notice(id, t(s.close_reason === "resolved" ? "con.closed_notice_rated" : "con.closed_notice",
      { reason: closedHow(s.close_reason) }), "closed");
    state.client.lastSeq.delete(id);
  }
  if (!state.current && s.status === "active") {
    select(id);
    return;
  }
  notify("list");
  if (id === state.current) { notify("chat"); notify("customer"); }
}

function onMessage(m) {
  const isNew = addMessage(m);
  if (!isNew) return;
  const fromVisitor = m.sender_role === "visitor";
  // History the agent had already received (delivered to it) is not new to it.
  if (fromVisitor && m.status !== "delivered") {
    if (m.session_id !== state.current || document.hidden) {
      state.unread.set(m.session_id, (state.unread.get(m.session_id) || 0) + 1);
    }
    alertAgent({ sessionId: m.session_id, message: m });
  }
  notify("list");
  if (m.session_id === state.current) notify("thread");
}

function onIdleWarning(d) {
  // What the visitor was told (in the visitor's language), and when the chat closes, in the console's.
  notice(d.session_id, t("con.idle_warning", { message: d.message, time: clock(d.closes_at) }), "warn");
}

function onPresence(d) {
  const s = state.sessions.get(d.session_id);
  if (!s) return;
  s.visitor_presence = d.state;
  if (["reconnecting", "offline", "online"].includes(d.state)) {
    notice(d.session_id, t(`con.presence_notice.${d.state}`), `presence ${d.state}`);
  }
  notify("list");
  if (d.session_id === state.current) { notify("chat"); notify("customer"); }
}

function onError(e) {
  if (e.code === "expired_token") {
    // The socket's sign-in has run out: nothing more is processed on it, so sign in again.
    state.client.close();
    expired(state.client.token);
    return;
  }
  if (e.code === "rate_limited") {
    // Not processed: a message is sent again after the wait; anything else is the agent's to retry.
    if (!resendLater(e)) toast(t("con.rate_limited"), "error");
    return;
  }
  if (sendRefused(e)) return;
  if (e.action === "note") {
    noteRefused(e);
    return;
  }
  if (e.action === "transfer") {
    transferRefused(e.message);
    return;
  }
  if (e.action === "set_status") statusRefused();
  if (e.action === "suggest") {
    suggestRefused(e.message);
    return;
  }
  if (e.code === "session_closed") {
    toast(t("con.already_ended"), "error");
    return;
  }
  toast(e.message || e.code, "error");
}
