// The centre column: one conversation in seq order, the agent's own messages from "sending" to
// "delivered", and the composer (text, image by address or upload, resolve, end).

import { TEXT, readWatcher, renderMessage, setStatus, typingIndicator, uploadImage } from "../imclient.js";
import { api, currentSignIn } from "../auth.js";
import { signBubble } from "../avatar.js";
import { $, h } from "../ui.js";
import { toast } from "./alerts.js";
import { safeUrl } from "./format.js";
import {
  PRESENCE, closedHow, currentSession, isOpen, nameOf, notify, preview, state, subscribe, thread,
} from "./store.js";
import { codeText, t as tr } from "../i18n.js";
import { paintNoteBox, renderNote } from "./notes.js";
import { resolveCurrent, wrapupLine } from "./wrapup.js";

const ORDER_MENTION = /\b[A-Z]{2,4}-\d{4,}\b/g;

// Who is who on the bubbles, and a closed chat's rating ({n} is filled in).
const WHO = {
  robot: tr("con.robot"),
  rated: tr("con.rated"),
  notRated: tr("con.not_rated"),
  ratingExpired: tr("con.rating_expired"),
};

/** Who sent a message, for its bubble's avatar and name (docs/protocol.md, section 2.8): the name it was sent
 *  under, else the session's names; a colleague's earlier messages keep theirs after a transfer. */
function whoOf(m, s) {
  if (m.sender_role === "robot") return { robot: true, name: WHO.robot };
  if (m.sender_role === "visitor") return { id: m.sender_id || (s && s.visitor_id), name: m.sender_name || nameOf(s) };
  if (m.sender_id === state.me.id) return { id: state.me.id, name: state.me.name || state.me.id };
  const name = m.sender_name || (s && m.sender_id === s.agent_id && s.agent_name) || m.sender_id;
  return { id: m.sender_id, name };
}

// The visitor's "typing…" under the conversation (for the chat on screen), and read receipts for the visitor's
// messages once they are shown in it.
const typingLine = h("p", { className: "ac-typing", dataset: { testid: "con-typing" } });
typingLine.hidden = true;
$("messages").after(typingLine);
const visitorTyping = typingIndicator(typingLine, TEXT.visitorTyping);
let watch = null;
function watchRead(el) {
  if (!watch) watch = readWatcher($("messages"), state.client);
  watch(el);
}

/** `typing` from the visitor of a chat: shown while that chat is on screen. */
export function typing(d) {
  if (d.session_id !== state.current) return;
  if (d.state === "start") visitorTyping.show(d.ttl_ms); else visitorTyping.clear();
}

/** `read`: the visitor's window showed one of the agent's messages. */
export function read(d) {
  const t = state.threads.get(d.session_id);
  const el = t && t.ids.get(d.message_id);
  if (el) mark(el, "read");
}

function seqOf(el) {
  const raw = el.dataset.seq;
  return raw === undefined || raw === "" ? Infinity : Number(raw);
}

/** Put an element in its thread in seq order (own messages not yet accepted go last). */
function place(id, el) {
  const t = thread(id);
  const seq = seqOf(el);
  let i = t.els.length;
  while (i > 0 && seqOf(t.els[i - 1]) > seq) i -= 1;
  t.els.splice(i, 0, el);
  if (id !== state.current) return;
  const box = $("messages");
  const next = t.els[i + 1];
  if (next && next.parentNode === box) box.insertBefore(el, next);
  else box.appendChild(el);
  box.scrollTop = box.scrollHeight;
}

/** A line of the conversation that is not a message: a transfer note, a warning, the close. It goes after the
 * messages shown so far, or after message `afterSeq` when given (a history still loading goes before it). */
export function notice(id, text, kind = "", afterSeq = null) {
  const t = thread(id);
  const el = h("p", { className: `system ac-notice ${kind}`.trim(), text,
    dataset: { testid: "con-notice", kind, seq: (afterSeq ?? t.maxSeq) + 0.5 } });
  place(id, el);
  return el;
}

function mark(el, status) {
  setStatus(el, status);
  const m = el.querySelector(".mark");
  if (status === "stored" && m) m.textContent = tr("con.stored");
}

function decorate(el, m, s) {
  // The robot's buttons belong to the visitor's widget; here they are only a record.
  el.querySelectorAll(".handoff").forEach((b) => b.remove());
  el.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  el.dataset.role = m.sender_role || "";
  signBubble(el, whoOf(m, s));
}

function noteMention(t, m) {
  if (m.sender_role !== "visitor") return;
  if (m.type === "order" && m.content && m.content.order_id) t.mentioned = String(m.content.order_id);
  else if (m.type === "text" && m.content && typeof m.content.text === "string") {
    const found = m.content.text.match(ORDER_MENTION);
    if (found) t.mentioned = found[found.length - 1];
  }
}

/** Show a message once (by message_id); returns true if it was new. */
export function addMessage(m) {
  const t = thread(m.session_id);
  if (m.message_id && t.ids.has(m.message_id)) return false;
  if (m.type === "note") {
    // Staff only, in its place: no ACK, no read receipt, no "delivered", not the chat's preview.
    const el = renderNote(m);
    t.ids.set(m.message_id, el);
    t.maxSeq = Math.max(t.maxSeq, m.seq || 0);
    place(m.session_id, el);
    return true;
  }
  const mine = m.sender_id === state.me.id;
  const own = mine && m.client_msg_id ? state.pending.get(m.client_msg_id) : null;
  if (own) {
    // Our own message, met again (resume or history): it is the element already shown.
    own.el.dataset.messageId = m.message_id;
    own.el.dataset.seq = String(m.seq);
    t.ids.set(m.message_id, own.el);
    if (m.status === "delivered") { mark(own.el, m.read_at ? "read" : "delivered"); state.pending.delete(m.client_msg_id); }
    return false;
  }
  const el = renderMessage(m, { mine, status: mine ? (m.read_at ? "read" : m.status) : "" });
  if (mine && m.status === "stored") mark(el, "stored");
  if (m.sender_role === "visitor") {
    if (m.session_id === state.current) visitorTyping.clear();  // the line they were typing has come
    if (!m.read_at) watchRead(el);
  }
  el.dataset.seq = String(m.seq);
  el.dataset.summary = preview(m);
  decorate(el, m, state.sessions.get(m.session_id));
  t.ids.set(m.message_id, el);
  t.maxSeq = Math.max(t.maxSeq, m.seq || 0);
  const at = m.created_at || Date.now();
  if (m.sender_role === "visitor") t.lastVisitorAt = Math.max(t.lastVisitorAt || 0, at);
  else if (m.sender_role === "agent") t.lastAgentAt = Math.max(t.lastAgentAt || 0, at);
  t.preview = preview(m);
  noteMention(t, m);
  place(m.session_id, el);
  return true;
}

export async function loadHistory(id) {
  const t = thread(id);
  if (t.loaded) return;
  t.loaded = true;
  let after = 0;
  try {
    for (;;) {
      const page = await api(`/sessions/${encodeURIComponent(id)}/messages?after_seq=${after}&limit=100`);
      for (const m of page.messages) addMessage(m);
      if (page.next_after_seq == null) break;
      after = page.next_after_seq;
    }
  } catch (err) {
    t.loaded = false;
    if (id === state.current) toast(tr("con.history_failed", { message: err.message }), "error");
  }
  notify("list");
  if (id === state.current) notify("thread");
}

let shownId = null;
// A closed chat's survey answer as the visitor gave it: stars, tags and comment (the agent learns of it at once).
const ratingBox = h("div", { className: "ac-rating", dataset: { testid: "chat-rating" } });
ratingBox.hidden = true;
$("chat-banner").after(ratingBox);
// Why an ended chat was resolved (its wrap-up reason and note), under its rating.
const wrapupBox = h("div", { className: "ac-wrapup" });
ratingBox.after(wrapupBox);

function showRating(s) {
  const survey = s.status === "closed" ? s.survey : null;
  ratingBox.hidden = !survey;
  if (!survey) return;
  if (survey.status !== "answered") {
    ratingBox.replaceChildren(h("span", { text: survey.status === "expired" ? WHO.ratingExpired : WHO.notRated }));
    return;
  }
  ratingBox.replaceChildren(...[
    h("span", { className: "stars-shown", text: "★".repeat(survey.stars) + "☆".repeat(5 - survey.stars),
      dataset: { testid: "chat-rating-stars" }, attrs: { "aria-label": WHO.rated.replace("{n}", survey.stars) } }),
    survey.tags.length ? h("span", { className: "tags", text: survey.tags.join(" · "),
      dataset: { testid: "chat-rating-tags", userContent: "" } }) : null,
    survey.comment ? h("q", { text: survey.comment, dataset: { testid: "chat-rating-comment", userContent: "" } }) : null,
  ].filter(Boolean));
}

function renderChat() {
  const s = currentSession();
  if (state.current !== shownId) { visitorTyping.clear(); shownId = state.current; }
  $("placeholder").hidden = Boolean(s);
  $("messages").hidden = !s;
  if (!s) {
    ratingBox.hidden = true;
    wrapupBox.replaceChildren();
    $("chat-title").textContent = tr("con.no_selection");
    delete $("chat-title").dataset.userContent;
    $("chat-sub").textContent = "";
    $("chat-banner").hidden = true;
  } else {
    $("chat-title").textContent = nameOf(s);
    $("chat-title").dataset.userContent = "";
    const where = [codeText("channel", s.channel), s.source, codeText("category", s.category),
      codeText("lang.name", s.language)].filter(Boolean).join(" · ");
    const presence = s.status === "closed"
      ? tr("con.chat_closed", { reason: closedHow(s.close_reason) })
      : tr("con.visitor_presence", { presence: PRESENCE[s.visitor_presence || "online"] });
    // The presence in words, then where the visitor came from (data).
    $("chat-sub").replaceChildren(h("span", { text: presence }),
      ...(where ? [" — ", h("span", { text: where, dataset: { userContent: "" } })] : []));
    $("chat-sub").dataset.presence = s.status === "closed" ? "closed" : s.visitor_presence || "online";
    const banner = $("chat-banner");
    if (s.status === "closed") {
      banner.hidden = false;
      banner.textContent = tr("con.banner.closed");
    } else if (s.visitor_presence === "reconnecting" || s.visitor_presence === "offline") {
      banner.hidden = false;
      banner.textContent = tr(s.visitor_presence === "offline" ? "con.banner.offline" : "con.banner.reconnecting");
    } else {
      banner.hidden = true;
    }
    showRating(s);
    const line = wrapupLine(s);
    wrapupBox.replaceChildren(...(line ? [line] : []));
    $("messages").replaceChildren(...thread(s.session_id).els);
    $("messages").scrollTop = $("messages").scrollHeight;
  }
  const open = isOpen(s);
  for (const id of ["transfer-open", "resolve", "end-chat", "send", "input", "send-image", "send-product", "send-order"]) {
    $(id).disabled = !open;
  }
  document.querySelectorAll("#quick button[data-testid=quick-reply]").forEach((b) => { b.disabled = !open; });
  $("input").placeholder = tr(open ? "con.reply_ph" : s && s.observed && s.status !== "closed" ? "con.input.observed"
    : s ? "con.input.ended" : "con.input.pick");
  paintNoteBox();
}

/** Send a message of the agent's into the open conversation; false (and a toast) if it cannot be sent. */
export function sendOwn(type, content) {
  const s = currentSession();
  if (!isOpen(s)) {
    toast(tr(s ? "con.toast.ended" : "con.toast.pick"), "error");
    return false;
  }
  const id = state.client.send(s.session_id, type, content);
  const el = renderMessage({ type, content, client_msg_id: id, session_id: s.session_id, created_at: Date.now() },
    { mine: true, status: "sending" });
  el.dataset.role = "agent";
  signBubble(el, whoOf({ sender_role: "agent", sender_id: state.me.id }, s));
  state.pending.set(id, { el, sessionId: s.session_id, type, content });
  const t = thread(s.session_id);
  t.lastAgentAt = Date.now();
  t.preview = preview({ type, content });
  place(s.session_id, el);
  notify("list");
  return true;
}

/** Put `text` in the reply box for the agent to edit and send. */
export function draft(text) {
  const input = $("input");
  input.value = text;
  input.focus();
}

// -- the fate of the agent's own messages ---------------------------------------------------------------

function accepted(d, status) {
  const own = state.pending.get(d.client_msg_id);
  if (!own) return;
  own.el.dataset.messageId = d.message_id;
  own.el.dataset.seq = String(d.seq);
  mark(own.el, status);
  if (status === "delivered") state.pending.delete(d.client_msg_id);
  const t = state.threads.get(own.sessionId);
  if (t) { t.ids.set(d.message_id, own.el); t.maxSeq = Math.max(t.maxSeq, d.seq); }
}

/** `delivered`: the visitor has the message. */
export function delivered(d) {
  accepted(d, "delivered");
}

/** `stored`: kept for an offline visitor; still pending, "delivered" follows when they are back. */
export function stored(d) {
  accepted(d, "stored");
}

/** `send_failed`: shown as failed, with a Retry that sends the same content again. */
export function sendFailed(d) {
  const own = state.pending.get(d.client_msg_id);
  if (!own) return;
  state.pending.delete(d.client_msg_id);
  mark(own.el, "failed");
  if (!d.original || own.el.querySelector("[data-testid=retry]")) return;
  own.el.appendChild(h("button", { type: "button", className: "retry", text: "Retry", dataset: { testid: "retry" },
    on: { click: () => {
      const { session_id: sessionId, type, content } = d.original;
      own.el.remove();
      const t = state.threads.get(sessionId);
      if (t) t.els = t.els.filter((el) => el !== own.el);
      if (sessionId === state.current) sendOwn(type, content);
    } } }));
}

/** An error answer to one of the agent's messages: true if it was one (then shown as failed). */
export function sendRefused(e) {
  if (!e.client_msg_id || !state.pending.has(e.client_msg_id)) return false;
  const own = state.pending.get(e.client_msg_id);
  state.pending.delete(e.client_msg_id);
  mark(own.el, "failed");
  toast(e.code === "session_closed" ? tr("con.not_sent_closed") : tr("con.not_sent", { message: e.message }), "error");
  return true;
}

/** `rate_limited` on a message: the same frame again after the wait (same client_msg_id, so never twice). */
export function resendLater(e) {
  const own = e.client_msg_id ? state.pending.get(e.client_msg_id) : null;
  if (!own) return false;
  const frame = { action: "send", session_id: own.sessionId, client_msg_id: e.client_msg_id, type: own.type,
    content: own.content };
  setTimeout(() => {
    state.client.unconfirmed.set(frame.client_msg_id, frame); // resent after a reconnect too
    state.client.raw(frame);
  }, e.retry_after_ms || 1000);
  return true;
}

subscribe("chat", renderChat);
subscribe("history", loadHistory);

// -- the composer -----------------------------------------------------------------------------------------

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text) return;
  if (sendOwn("text", { text })) $("input").value = "";
});
// The visitor sees "typing…" while the agent types (a frame every few seconds at most, see imclient.js).
$("input").addEventListener("input", () => {
  const s = currentSession();
  if (!isOpen(s) || !state.client) return;
  if ($("input").value.trim()) state.client.typing(s.session_id); else state.client.stopTyping(s.session_id);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
$("resolve").addEventListener("click", resolveCurrent);
$("end-chat").addEventListener("click", () => {
  const s = currentSession();
  if (isOpen(s)) state.client.raw({ action: "end_session", session_id: s.session_id });
});

$("send-image").addEventListener("click", () => {
  $("image-form").hidden = false;
  $("image-url").focus();
});
$("image-cancel").addEventListener("click", () => { $("image-form").hidden = true; });
$("image-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const url = $("image-url").value.trim();
  if (!safeUrl(url)) { toast(tr("con.image_https"), "error"); return; }
  if (sendOwn("image", { url, alt: tr("con.image_alt") })) {
    $("image-url").value = "";
    $("image-form").hidden = true;
  }
});
$("image-file").addEventListener("change", async () => {
  const file = $("image-file").files[0];
  $("image-file").value = "";
  const auth = currentSignIn();
  if (!file || !auth) return;
  try {
    if (sendOwn("image", await uploadImage(file, auth.token))) $("image-form").hidden = true;
  } catch (err) {
    toast(err.message, "error");
  }
});
