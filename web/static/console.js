// The agent console, one page in three columns: the agent's chats (online, offline, left messages), the
// conversation, and tools for it (FAQ answers, customer, order lookup, ticket, product recommendations).
// It speaks the WebSocket protocol (docs/protocol.md) through ImClient and the REST API (docs/openapi.yaml)
// through auth.js. Everything that comes from visitors or the server is set as text, never parsed as HTML.

import { ImClient, renderMessage, setStatus, uploadImage, wsUrl } from "./imclient.js";
import { api, currentSignIn, expired } from "./auth.js";
import { gate } from "./sign-in.js";
import { $, h, DASH, clock, dateTime, duration } from "./ui.js";

const TITLE = "Agent console";
const QUICK_KEY = "cs.quickReplies";
const SOUND_KEY = "cs.sound";
const LEFT_REFRESH_MS = 30_000;
const DEFAULT_QUICK_REPLIES = [
  "Hello! How can I help you today?",
  "Let me check that for you, one moment please.",
  "Could you tell me your order number?",
  "Is there anything else I can help you with?",
  "Thank you for contacting us. Have a nice day!",
];
const CLOSE_REASONS = {
  resolved: "resolved",
  visitor_ended: "ended by the visitor",
  agent_ended: "ended",
  idle_timeout: "closed: the visitor did not answer",
};
const PRESENCE = { online: "online", reconnecting: "reconnecting…", offline: "offline" };
const ORDER_MENTION = /\b[A-Z]{2,4}-\d{4,}\b/g;

const state = {
  me: null,
  client: null,
  current: null,
  status: "online",
  capacity: null,
  sessions: new Map(),    // session id -> session (active ones and those that ended on this page)
  threads: new Map(),     // session id -> {els, ids, maxSeq, lastVisitorAt, lastAgentAt, preview, loaded}
  unread: new Map(),      // session id -> visitor messages not read yet
  fresh: new Set(),       // sessions assigned and not opened yet
  pending: new Map(),     // client_msg_id -> {el, sessionId}: own messages not delivered yet
  suggestions: new Map(), // session id -> the latest suggestions frame
  orders: new Map(),      // session id -> the order looked up for it
  created: new Map(),     // session id -> the ticket created from it
  leftMessages: [],
  leftError: "",
  transferFor: null,      // the session a transfer was asked for, until the answer
};

// -- small helpers -----------------------------------------------------------------------------------

/** The visitor's name, or "Visitor" and the end of its id for an anonymous one. */
function nameOf(s) {
  if (!s) return "Visitor";
  if (s.visitor_name) return s.visitor_name;
  return s.visitor_id ? `Visitor ${String(s.visitor_id).slice(-4)}` : "Visitor";
}

function toast(message, kind = "ok") {
  const el = $("toast");
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 9000 : 5000);
}

function setText(el, message, kind = "") {
  el.textContent = message;
  el.dataset.kind = kind;
}

function currentSession() {
  return state.current ? state.sessions.get(state.current) || null : null;
}

function isOpen(s) {
  return Boolean(s) && s.status === "active";
}

/** A message in one line of words: the list's preview, and the visitor's words copied into a ticket. */
function preview(m) {
  const c = m.content || {};
  switch (m.type) {
    case "text": return c.text || "";
    case "image": return c.alt ? `Image: ${c.alt}` : "Image";
    case "product": return `Product: ${c.title || ""} (${c.product_id || ""})`;
    case "order": return `Order ${c.order_id || ""}${c.status ? ` (${c.status})` : ""}`;
    case "robot": return `Robot: ${c.text || ""}`;
    default: return "";
  }
}

/** A status as a coloured pill: open, pending, solved, closed; shipped, delivered... */
function pill(value) {
  return h("span", { className: "state-pill", text: value ? String(value).replace(/_/g, " ") : DASH,
    dataset: { value: value || "" } });
}

// -- sound and the title marker -------------------------------------------------------------------------

let audio = null;
let soundOn = localStorage.getItem(SOUND_KEY) !== "off";

function unlockAudio() {
  // Browsers start audio only after a user gesture: the sign-in click or any click on the page.
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch {
    audio = null;
  }
}

function beep() {
  if (!soundOn || !audio) return;
  try {
    const t = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.setValueAtTime(880, t);
    osc.frequency.setValueAtTime(1175, t + 0.09);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.12, t + 0.015);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.24);
  } catch {
    // No sound is no reason to lose a message.
  }
}

function paintSound() {
  $("sound").textContent = soundOn ? "Sound on" : "Sound off";
  $("sound").setAttribute("aria-pressed", String(soundOn));
}

/** Something new for the agent: a sound, and a count in the tab title until it is seen. */
function alertAgent() {
  beep();
  const app = $("app");
  app.dataset.alerts = String(Number(app.dataset.alerts || 0) + 1);
  paintTitle();
}

function paintTitle() {
  let n = 0;
  for (const id of state.sessions.keys()) n += state.unread.get(id) || (state.fresh.has(id) ? 1 : 0);
  document.title = n ? `(${n}) ● ${TITLE}` : TITLE;
}

// -- threads ------------------------------------------------------------------------------------------

function thread(id) {
  let t = state.threads.get(id);
  if (!t) {
    t = { els: [], ids: new Map(), maxSeq: 0, lastVisitorAt: null, lastAgentAt: null, preview: "", loaded: false,
      mentioned: null };
    state.threads.set(id, t);
  }
  return t;
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

/** A line of the conversation that is not a message: a transfer note, a warning, the close. */
function notice(id, text, kind = "") {
  const t = thread(id);
  const el = h("p", { className: `system ac-notice ${kind}`.trim(), text,
    dataset: { testid: "con-notice", kind, seq: t.maxSeq + 0.5 } });
  place(id, el);
  return el;
}

function mark(el, status) {
  setStatus(el, status);
  const m = el.querySelector(".mark");
  if (status === "stored" && m) m.textContent = "kept for the visitor (offline)";
}

function decorate(el, m, s) {
  // The robot's buttons belong to the visitor's widget; here they are only a record.
  el.querySelectorAll(".handoff").forEach((b) => b.remove());
  el.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  el.dataset.role = m.sender_role || "";
  let who = null;
  if (m.sender_role === "robot") who = "Robot";
  else if (m.sender_role === "visitor") who = nameOf(s);
  else if (m.sender_id && m.sender_id !== state.me.id) who = m.sender_id;
  const meta = el.querySelector(".meta");
  if (who && meta) meta.prepend(h("span", { className: "ac-sender", text: who }));
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
function addMessage(m) {
  const t = thread(m.session_id);
  if (m.message_id && t.ids.has(m.message_id)) return false;
  const mine = m.sender_id === state.me.id;
  const own = mine && m.client_msg_id ? state.pending.get(m.client_msg_id) : null;
  if (own) {
    // Our own message, met again (resume or history): it is the element already shown.
    own.el.dataset.messageId = m.message_id;
    own.el.dataset.seq = String(m.seq);
    t.ids.set(m.message_id, own.el);
    if (m.status === "delivered") { mark(own.el, "delivered"); state.pending.delete(m.client_msg_id); }
    return false;
  }
  const el = renderMessage(m, { mine, status: mine ? m.status : "" });
  if (mine && m.status === "stored") mark(el, "stored");
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

async function loadHistory(id) {
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
    if (id === state.current) toast(`The history could not be loaded: ${err.message}`, "error");
  }
  renderList();
  if (id === state.current) prefillOrder();
}

// -- the left column ----------------------------------------------------------------------------------

/** Since when the visitor has been waiting for the agent: their last unanswered message, or the assignment. */
function waitingSince(s) {
  if (!isOpen(s)) return null;
  const t = thread(s.session_id);
  const agentAt = t.lastAgentAt || 0;
  const visitorAt = t.lastVisitorAt || 0;
  if (agentAt && agentAt >= visitorAt) return null;
  const from = Math.max(visitorAt, s.assigned_at || 0);
  return from || null;
}

function waitLabel(el) {
  const from = Number(el.dataset.since);
  const seconds = (Date.now() - from) / 1000;
  el.textContent = duration(seconds);
  el.classList.toggle("late", seconds >= 60);
  el.classList.toggle("later", seconds >= 180);
}

function sessionItem(s, testid) {
  const t = thread(s.session_id);
  const unread = state.unread.get(s.session_id) || 0;
  const name = nameOf(s);
  const top = h("span", { className: "ac-conv-top" }, h("strong", { className: "ac-conv-name", text: name }));
  const from = waitingSince(s);
  if (from) {
    const wait = h("span", { className: "ac-wait", dataset: { since: from, testid: "wait" },
      attrs: { title: "Waiting for your reply" } });
    waitLabel(wait);
    top.appendChild(wait);
  } else if (s.status === "closed") {
    top.appendChild(h("span", { className: "ac-when", text: CLOSE_REASONS[s.close_reason] || "ended" }));
  }
  const tags = [s.category, s.channel, s.tier && s.tier.toUpperCase()].filter(Boolean).join(" · ");
  const main = h("span", { className: "ac-conv-main" }, top,
    h("span", { className: "ac-conv-preview", text: t.preview || (s.transfer ? "Transferred to you" : "New chat") }),
    tags || s.transfer ? h("span", { className: "ac-conv-tags" },
      tags ? h("span", { text: tags }) : null,
      s.transfer ? h("span", { className: "ac-tag-transfer", text: `from ${s.transfer.from}` }) : null) : null);
  const badge = unread
    ? h("span", { className: "unread", text: unread, dataset: { testid: "unread" }, attrs: { "aria-label": `${unread} unread` } })
    : state.fresh.has(s.session_id) ? h("span", { className: "unread ac-new", text: "new", dataset: { testid: "unread" } }) : null;
  const button = h("button", { type: "button", className: "ac-conv",
    attrs: { "aria-current": s.session_id === state.current ? "true" : null },
    on: { click: () => select(s.session_id) } },
  h("span", { className: `ac-avatar ${s.visitor_presence || "online"}`, text: name.trim().charAt(0).toUpperCase() || "?",
    attrs: { "aria-hidden": "true" } }), main, badge);
  return h("li", { className: s.session_id === state.current ? "selected" : "",
    dataset: { testid, sessionId: s.session_id, presence: s.visitor_presence || "online" } }, button);
}

function leftItem(m) {
  const link = h("a", {
    className: "ac-conv ac-left-message",
    href: `/tickets?ticket=${encodeURIComponent(m.ticket_id)}`,
    target: "_blank",
    rel: "opener", // the ticket console shares this tab's sign-in
    attrs: { title: "Open the ticket" },
  },
  h("span", { className: "ac-avatar left", text: (m.visitor_name || "?").trim().charAt(0).toUpperCase() || "?",
    attrs: { "aria-hidden": "true" } }),
  h("span", { className: "ac-conv-main" },
    h("span", { className: "ac-conv-top" }, h("strong", { className: "ac-conv-name", text: m.visitor_name || m.contact || m.visitor_id || "Visitor" }),
      h("span", { className: "ac-when", text: dateTime(m.created_at) })),
    h("span", { className: "ac-conv-preview", text: m.text }),
    h("span", { className: "ac-conv-tags" }, h("span", { text: [m.group_id, m.contact].filter(Boolean).join(" · ") }),
      pill(m.status))));
  return h("li", { dataset: { testid: "left-item", ticketId: m.ticket_id } }, link);
}

function fill(listId, emptyId, countId, items) {
  $(listId).replaceChildren(...items);
  if (emptyId) $(emptyId).hidden = items.length > 0;
  $(countId).textContent = String(items.length);
}

function renderList() {
  const online = [];
  const offline = [];
  const ended = [];
  for (const s of state.sessions.values()) {
    if (s.status === "closed") ended.push(s);
    else if (s.visitor_presence === "reconnecting" || s.visitor_presence === "offline") offline.push(s);
    else online.push(s);
  }
  const byWait = (a, b) => (waitingSince(a) || Infinity) - (waitingSince(b) || Infinity);
  fill("list-online", "empty-online", "count-online", online.sort(byWait).map((s) => sessionItem(s, "session-item")));
  fill("list-offline", "empty-offline", "count-offline", offline.sort(byWait).map((s) => sessionItem(s, "session-item")));
  fill("list-ended", null, "count-ended",
    ended.sort((a, b) => (b.closed_at || 0) - (a.closed_at || 0)).slice(0, 20).map((s) => sessionItem(s, "ended-item")));
  $("ended-group").hidden = ended.length === 0;
  fill("list-left", "empty-left", "count-left", state.leftMessages.map(leftItem));
  if (state.leftError) {
    $("empty-left").hidden = false;
    $("empty-left").textContent = state.leftError;
  }
  paintLoad();
  paintTitle();
}

let leftAsked = 0;

async function loadLeftMessages() {
  const asked = ++leftAsked; // a refresh click and the timer may cross: the latest answer wins
  try {
    const data = await api("/left-messages?limit=50");
    if (asked !== leftAsked) return;
    state.leftMessages = data.left_messages.filter((m) => m.status === "open" || m.status === "pending");
    state.leftError = "";
    $("empty-left").textContent = "No messages left outside service hours.";
  } catch (err) {
    if (asked !== leftAsked) return;
    state.leftError = `Left messages could not be loaded: ${err.message}`;
  }
  renderList();
}

// -- the centre: one conversation -----------------------------------------------------------------------

function select(id) {
  const changed = state.current !== id;
  state.current = id;
  state.unread.delete(id);
  state.fresh.delete(id);
  renderChat();
  renderList();
  if (changed) renderTools();
  loadHistory(id);
}

function renderChat() {
  const s = currentSession();
  $("placeholder").hidden = Boolean(s);
  $("messages").hidden = !s;
  if (!s) {
    $("chat-title").textContent = "No conversation selected";
    $("chat-sub").textContent = "";
    $("chat-banner").hidden = true;
  } else {
    $("chat-title").textContent = nameOf(s);
    const where = [s.channel, s.source, s.category, s.language].filter(Boolean).join(" · ");
    const presence = s.status === "closed"
      ? `Chat ${CLOSE_REASONS[s.close_reason] || "ended"}`
      : `Visitor ${PRESENCE[s.visitor_presence || "online"]}`;
    $("chat-sub").textContent = [presence, where].filter(Boolean).join(" — ");
    $("chat-sub").dataset.presence = s.status === "closed" ? "closed" : s.visitor_presence || "online";
    const banner = $("chat-banner");
    if (s.status === "closed") {
      banner.hidden = false;
      banner.textContent = "This chat has ended. You can still read it and create a ticket from it.";
    } else if (s.visitor_presence === "reconnecting" || s.visitor_presence === "offline") {
      banner.hidden = false;
      banner.textContent = s.visitor_presence === "offline"
        ? "The visitor is offline. Your replies are kept and delivered when they come back."
        : "The visitor's connection dropped; they may be back in a moment.";
    } else {
      banner.hidden = true;
    }
    $("messages").replaceChildren(...thread(s.session_id).els);
    $("messages").scrollTop = $("messages").scrollHeight;
  }
  const open = isOpen(s);
  for (const id of ["transfer-open", "resolve", "end-chat", "send", "input", "send-image", "send-product", "send-order"]) {
    $(id).disabled = !open;
  }
  document.querySelectorAll("#quick button[data-testid=quick-reply]").forEach((b) => { b.disabled = !open; });
  $("input").placeholder = open ? "Reply… (Enter sends, Shift+Enter for a new line)"
    : s ? "This chat has ended" : "Pick a conversation to reply";
}

function sendOwn(type, content) {
  const s = currentSession();
  if (!isOpen(s)) {
    toast(s ? "This chat has ended." : "Pick a conversation first.", "error");
    return false;
  }
  const id = state.client.send(s.session_id, type, content);
  const el = renderMessage({ type, content, client_msg_id: id, session_id: s.session_id, created_at: Date.now() },
    { mine: true, status: "sending" });
  el.dataset.role = "agent";
  state.pending.set(id, { el, sessionId: s.session_id, type, content });
  const t = thread(s.session_id);
  t.lastAgentAt = Date.now();
  t.preview = preview({ type, content });
  place(s.session_id, el);
  renderList();
  return true;
}

function dropSession(id) {
  state.sessions.delete(id);
  state.threads.delete(id);
  state.unread.delete(id);
  state.fresh.delete(id);
  state.suggestions.delete(id);
  state.client.lastSeq.delete(id); // not ours any more: nothing to resume after a reconnect
  if (state.current === id) {
    state.current = null;
    renderChat();
    renderTools();
  }
}

// -- protocol events --------------------------------------------------------------------------------------

function onEvent(name, data) {
  switch (name) {
    case "state": return connectionState(data);
    case "welcome": return onWelcome(data);
    case "session": return onSession(data);
    case "message": return onMessage(data);
    case "delivered": return onDelivered(data);
    case "stored": return onStored(data);
    case "send_failed": return onFailed(data);
    case "status": return onStatus(data);
    case "suggestions": return onSuggestions(data);
    case "left_message": return loadLeftMessages(); // a visitor of one of our groups just left one
    case "idle_warning": return onIdleWarning(data);
    case "visitor_presence": return onPresence(data);
    case "error": return onError(data);
    default: return undefined; // "notice" is the visitor's wording of a transfer; pong
  }
}

function connectionState(value) {
  const conn = $("conn");
  conn.textContent = value;
  conn.dataset.state = value === "open" ? "live" : value;
  if (value === "refused") {
    sessionStorage.removeItem("cs.agent");
    location.reload();
  }
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
  else { renderList(); renderChat(); }
}

function transferNote(s) {
  const note = s.transfer.note ? `: “${s.transfer.note}”` : " (no note)";
  notice(s.session_id, `Transferred to you by ${s.transfer.from}${note}`, "transfer");
}

function onSession(s) {
  const id = s.session_id;
  const known = state.sessions.get(id);
  if (s.status === "transferred") {
    // Handed on: the chat is the next agent's now.
    const pending = state.transferFor === id;
    if (known) toast(`${nameOf(known)} was transferred to ${s.agent_id || s.group_id || "a colleague"}.`);
    if (pending) { state.transferFor = null; $("transfer-dialog").close(); }
    dropSession(id);
    renderList();
    return;
  }
  if (s.status !== "active" && s.status !== "closed") return;
  const merged = known ? { ...known, ...s } : s;
  state.sessions.set(id, merged);
  if (!known && s.status === "active") {
    state.fresh.add(id);
    if (s.transfer) transferNote(merged);
    alertAgent();
    loadHistory(id);
  }
  if (known && known.status !== "closed" && s.status === "closed") {
    notice(id, `Chat ${CLOSE_REASONS[s.close_reason] || "ended"}${s.close_reason === "resolved" ? "; the visitor was asked for a rating" : ""}.`, "closed");
    state.client.lastSeq.delete(id);
  }
  if (!state.current && s.status === "active") {
    select(id);
    return;
  }
  renderList();
  if (id === state.current) { renderChat(); renderCustomer(); }
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
    alertAgent();
  }
  renderList();
  if (m.session_id === state.current) prefillOrder();
}

function onDelivered(d) {
  const own = state.pending.get(d.client_msg_id);
  if (!own) return;
  own.el.dataset.messageId = d.message_id;
  own.el.dataset.seq = String(d.seq);
  mark(own.el, "delivered");
  state.pending.delete(d.client_msg_id);
  const t = state.threads.get(own.sessionId);
  if (t) { t.ids.set(d.message_id, own.el); t.maxSeq = Math.max(t.maxSeq, d.seq); }
}

function onStored(d) {
  const own = state.pending.get(d.client_msg_id);
  if (!own) return;
  own.el.dataset.messageId = d.message_id;
  own.el.dataset.seq = String(d.seq);
  mark(own.el, "stored"); // still pending: "delivered" follows when the visitor is back
  const t = state.threads.get(own.sessionId);
  if (t) { t.ids.set(d.message_id, own.el); t.maxSeq = Math.max(t.maxSeq, d.seq); }
}

function onFailed(d) {
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

function onStatus(d) {
  state.status = d.status;
  state.capacity = d.capacity;
  $("status").value = d.status;
  $("capacity").value = d.capacity;
  paintLoad();
}

function paintLoad() {
  let active = 0;
  for (const s of state.sessions.values()) if (isOpen(s)) active += 1;
  $("load").textContent = state.capacity ? `${active} of ${state.capacity} chats` : `${active} chat${active === 1 ? "" : "s"}`;
  $("load").dataset.full = String(Boolean(state.capacity) && active >= state.capacity);
}

function onIdleWarning(d) {
  notice(d.session_id, `${d.message} (closes at ${clock(d.closes_at)} unless the visitor writes)`, "warn");
}

function onPresence(d) {
  const s = state.sessions.get(d.session_id);
  if (!s) return;
  s.visitor_presence = d.state;
  const words = {
    reconnecting: "The visitor's connection dropped; waiting for them to come back.",
    offline: "The visitor is offline. Your replies are kept and delivered when they return.",
    online: "The visitor is back online.",
  };
  if (words[d.state]) notice(d.session_id, words[d.state], `presence ${d.state}`);
  renderList();
  if (d.session_id === state.current) { renderChat(); renderCustomer(); }
}

function onError(e) {
  if (e.code === "expired_token") {
    // The socket's sign-in has run out: nothing more is processed on it, so sign in again.
    state.client.close();
    expired();
    return;
  }
  if (e.code === "rate_limited") {
    // Not processed: the same frame again after the wait (a message keeps its client_msg_id, so never twice).
    const own = e.client_msg_id ? state.pending.get(e.client_msg_id) : null;
    if (own) {
      const frame = { action: "send", session_id: own.sessionId, client_msg_id: e.client_msg_id, type: own.type,
        content: own.content };
      setTimeout(() => {
        state.client.unconfirmed.set(frame.client_msg_id, frame); // resent after a reconnect too
        state.client.raw(frame);
      }, e.retry_after_ms || 1000);
    } else {
      toast("Too many actions at once; try again in a moment.", "error");
    }
    return;
  }
  if (e.client_msg_id && state.pending.has(e.client_msg_id)) {
    const own = state.pending.get(e.client_msg_id);
    state.pending.delete(e.client_msg_id);
    mark(own.el, "failed");
    toast(e.code === "session_closed" ? "Not sent: this chat has ended." : `Not sent: ${e.message}`, "error");
    return;
  }
  if (e.action === "transfer") {
    $("transfer-error").textContent = e.message; // agent_unavailable says what to do instead
    $("transfer-submit").disabled = false;
    state.transferFor = null;
    return;
  }
  if (e.action === "set_status") {
    $("status").value = state.status;
    $("capacity").value = state.capacity ?? "";
  }
  if (e.action === "suggest") {
    setText($("sop-query-shown"), e.message, "error");
    return;
  }
  if (e.code === "session_closed") {
    toast("This chat has already ended.", "error");
    return;
  }
  toast(e.message || e.code, "error");
}

// -- the right column: tabs ---------------------------------------------------------------------------------

let activeTab = "answers";

function showTab(name) {
  activeTab = name;
  for (const tab of document.querySelectorAll("#tabs [role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
}

function renderTools() {
  renderSuggestions();
  renderCustomer();
  renderOrderPanel();
  renderTicketPanel();
  renderProducts();
}

// Answers: the SOP assistant's FAQ answers for the visitor's latest message, each sent in one click.
function onSuggestions(frame) {
  state.suggestions.set(frame.session_id, frame);
  if (frame.session_id === state.current) renderSuggestions();
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
          on: { click: () => { $("input").value = s.answer; $("input").focus(); } } })));
  }));
}

// Customer: what the session knows of the visitor, and their past sessions.
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
      h("span", { text: [how, p.agent_id ? `with ${p.agent_id}` : "robot only", p.category].filter(Boolean).join(" · ") }),
      survey ? h("span", { className: "ac-stars", text: survey, attrs: { "aria-label": `${p.survey.stars} stars` } }) : null);
  }));
}

// Order: look an order up, send it into the chat as an order card.
function prefillOrder() {
  const t = state.current ? state.threads.get(state.current) : null;
  const input = $("order-id");
  if (t && t.mentioned && !input.value && !state.orders.get(state.current)) input.value = t.mentioned;
}

function orderCard(order) {
  return {
    order_id: order.order_id,
    status: order.status,
    total: order.total,
    currency: order.currency,
    items: (order.items || []).slice(0, 50).map((i) => ({ title: i.title, quantity: i.quantity, price: i.price })),
  };
}

function money(value, currency) {
  return typeof value === "number" ? `${value.toFixed(2)} ${currency || ""}`.trim() : DASH;
}

function renderOrderPanel() {
  const order = state.current ? state.orders.get(state.current) : null;
  $("order-id").value = order ? order.order_id : "";
  setText($("order-status"), "");
  showOrder(order);
  prefillOrder();
  loadCustomerOrders();
}

function showOrder(order) {
  const box = $("order-result");
  if (!order) { box.replaceChildren(); return; }
  const ship = order.shipping || {};
  const items = h("table", { className: "ac-items" },
    h("tbody", {}, ...(order.items || []).map((i) => h("tr", {},
      h("td", { text: `${i.quantity ?? 1} ×` }), h("td", { text: i.title }),
      h("td", { className: "num", text: money(i.price, order.currency) })))));
  box.replaceChildren(h("article", { className: "ac-order", dataset: { testid: "order-card", orderId: order.order_id } },
    h("header", {}, h("strong", { text: `Order ${order.order_id}` }),
      pill(order.status)),
    h("p", { className: "muted", text: `Placed ${dateTime(order.created_at)}${order.customer_id ? ` · customer ${order.customer_id}` : ""}` }),
    items,
    h("p", { className: "ac-total" }, "Total ", h("strong", { text: money(order.total, order.currency) })),
    h("dl", { className: "ac-facts" },
      h("dt", { text: "Carrier" }), h("dd", { text: ship.carrier || DASH }),
      h("dt", { text: "Tracking" }), h("dd", { text: ship.tracking_number || DASH }),
      h("dt", { text: "Arrives" }), h("dd", { text: ship.eta || DASH })),
    h("div", { className: "form-actions" },
      h("button", { type: "button", className: "small", text: "Send to chat", dataset: { testid: "order-send" },
        disabled: !isOpen(currentSession()), on: { click: () => sendOrder(order) } }),
      h("button", { type: "button", className: "ghost small", text: "Use in ticket", dataset: { testid: "order-to-ticket" },
        on: { click: () => { $("ticket-order").value = order.order_id; showTab("ticket"); $("ticket-subject").focus(); } } }))));
}

function sendOrder(order) {
  if (sendOwn("order", orderCard(order))) toast(`Order ${order.order_id} sent to the chat.`);
}

async function lookUpOrder(orderId) {
  const forSession = state.current;
  const status = $("order-status");
  setText(status, "Looking up…", "");
  try {
    const { order } = await api(`/orders/${encodeURIComponent(orderId)}`);
    if (state.current !== forSession) return;
    if (forSession) state.orders.set(forSession, order);
    setText(status, "");
    showOrder(order);
    if (!$("ticket-order").value) $("ticket-order").value = order.order_id;
  } catch (err) {
    if (state.current !== forSession) return;
    if (forSession) state.orders.delete(forSession);
    showOrder(null);
    let message = `The order could not be looked up: ${err.message}`;
    if (err.status === 404 && err.code === "not_found") message = `No order “${orderId}” was found.`;
    else if (err.status === 404 || err.status === 501) message = "Order lookup is not set up for this shop.";
    else if (err.status === 400) message = err.message;
    setText(status, message, "error");
  }
}

async function loadCustomerOrders() {
  const s = currentSession();
  const box = $("customer-orders");
  if (!s) { box.replaceChildren(h("p", { className: "muted", text: DASH })); return; }
  try {
    // An anonymous visitor (no customer_id) has no orders at the shop.
    const { orders } = s.customer_id
      ? await api(`/orders?customer_id=${encodeURIComponent(s.customer_id)}&limit=5`) : { orders: [] };
    if (state.current !== s.session_id) return;
    box.replaceChildren(...(orders.length ? orders.map((o) => h("button", {
      type: "button", className: "ghost small", dataset: { testid: "customer-order" },
      text: `${o.order_id} · ${o.status}`, on: { click: () => { $("order-id").value = o.order_id; lookUpOrder(o.order_id); } },
    })) : [h("p", { className: "muted", text: "No orders on file for this visitor." })]));
  } catch {
    if (state.current === s.session_id) box.replaceChildren(h("p", { className: "muted", text: DASH }));
  }
}

// Ticket: create one from this chat; the customer's tickets below.
function renderTicketPanel() {
  const s = currentSession();
  $("ticket-form").reset();
  $("ticket-priority").value = "normal";
  const order = s ? state.orders.get(s.session_id) : null;
  if (order) $("ticket-order").value = order.order_id;
  const created = s ? state.created.get(s.session_id) : null;
  showCreated(created);
  $("ticket-create").disabled = !s;
  loadCustomerTickets();
}

function ticketLink(ticket, text) {
  return h("a", { href: `/tickets?ticket=${encodeURIComponent(ticket.ticket_id)}`, target: "_blank", rel: "opener",
    text, dataset: { testid: "ticket-link" } });
}

function showCreated(ticket) {
  const status = $("ticket-status");
  if (!ticket) { setText(status, ""); return; }
  status.dataset.kind = "ok";
  status.replaceChildren(`Ticket ${ticket.ticket_id} created. `, ticketLink(ticket, "Open it in the ticket console"));
}

async function createTicket(e) {
  e.preventDefault();
  const s = currentSession();
  if (!s) return;
  const subject = $("ticket-subject").value.trim();
  const status = $("ticket-status");
  $("ticket-subject").setAttribute("aria-invalid", String(!subject));
  if (!subject) { setText(status, "Give the ticket a subject.", "error"); $("ticket-subject").focus(); return; }
  const body = { session_id: s.session_id, subject, description: $("ticket-description").value.trim(),
    priority: $("ticket-priority").value };
  const orderRef = $("ticket-order").value.trim();
  if (orderRef) body.order_ref = orderRef;
  $("ticket-create").disabled = true;
  setText(status, "Creating…", "");
  try {
    const ticket = await api("/tickets", { method: "POST", body });
    state.created.set(s.session_id, ticket);
    if (state.current === s.session_id) {
      $("ticket-form").reset();
      showCreated(ticket);
      loadCustomerTickets();
    }
  } catch (err) {
    setText(status, err.field ? `${err.message} (${err.field})` : err.message, "error");
  } finally {
    $("ticket-create").disabled = false;
  }
}

async function loadCustomerTickets() {
  const s = currentSession();
  const list = $("customer-tickets");
  if (!s) { list.replaceChildren(h("li", { className: "muted", text: DASH })); return; }
  try {
    const { tickets } = await api(`/tickets?customer_id=${encodeURIComponent(s.visitor_id)}&limit=5`);
    if (state.current !== s.session_id) return;
    list.replaceChildren(...(tickets.length ? tickets.map((t) => h("li", { dataset: { testid: "customer-ticket" } },
      ticketLink(t, t.subject), pill(t.status),
      h("span", { className: "muted", text: `${t.priority} · ${dateTime(t.updated_at)}` })))
      : [h("li", { className: "muted", text: "No tickets yet." })]));
  } catch (err) {
    if (state.current === s.session_id) list.replaceChildren(h("li", { className: "muted", text: err.status === 403 ? DASH : err.message }));
  }
}

function fillFromChat() {
  const s = currentSession();
  if (!s) return;
  const lines = [];
  for (const el of thread(s.session_id).els) {
    const text = el.dataset.role === "visitor" ? (el.dataset.summary || "").trim() : "";
    if (text) lines.push(`${nameOf(s)}: ${text}`);
  }
  $("ticket-description").value = lines.slice(-10).join("\n").slice(0, 5000);
  if (!$("ticket-subject").value && lines.length) {
    $("ticket-subject").value = lines[lines.length - 1].slice(nameOf(s).length + 2, nameOf(s).length + 2 + 80);
  }
}

// Products: recommendations for the session's category, each sent as a product card in one click.
const productCache = new Map(); // category -> products

async function renderProducts() {
  const s = currentSession();
  const box = $("products");
  const note = $("products-for");
  if (!s) { box.replaceChildren(); setText(note, "Pick a conversation to see products for it."); return; }
  const category = s.category || "";
  setText(note, category ? `Best sellers in “${category}”` : "Best sellers of the shop");
  let products = productCache.get(category);
  if (!products) {
    box.replaceChildren(h("p", { className: "muted", text: "Loading…" }));
    try {
      const query = category ? `category=${encodeURIComponent(category)}&limit=4` : "limit=4";
      products = (await api(`/products/recommendations?${query}`)).products;
      productCache.set(category, products);
    } catch (err) {
      if (state.current !== s.session_id) return;
      box.replaceChildren(h("p", { className: "muted", text: err.status === 404 || err.status === 501
        ? "Product recommendations are not set up for this shop." : `Could not load products: ${err.message}` }));
      return;
    }
  }
  if (state.current !== s.session_id) return;
  if (!products.length) { box.replaceChildren(h("p", { className: "muted", text: "No products to recommend." })); return; }
  box.replaceChildren(...products.map((p) => {
    const image = safeUrl(p.image_url);
    const link = safeUrl(p.url);
    return h("article", { className: "ac-product", dataset: { testid: "product", productId: p.product_id } },
      image ? h("img", { src: image, alt: "" }) : h("span", { className: "ac-product-thumb", text: (p.title || "?").charAt(0),
        attrs: { "aria-hidden": "true" } }),
      h("div", { className: "ac-product-main" },
        h("strong", { text: p.title }),
        h("span", { className: "muted", text: [money(p.price, p.currency), p.product_id].join(" · ") }),
        h("div", { className: "form-actions" },
          h("button", { type: "button", className: "small", text: "Send", dataset: { testid: "product-send" },
            disabled: !isOpen(s), on: { click: () => sendProduct(p) } }),
          link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer", text: "View" }) : null)));
  }));
}

function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

function sendProduct(p) {
  const content = { product_id: p.product_id, title: p.title };
  if (typeof p.price === "number") content.price = p.price;
  if (p.currency) content.currency = p.currency;
  if (safeUrl(p.image_url)) content.image_url = p.image_url;
  if (safeUrl(p.url)) content.url = p.url;
  if (sendOwn("product", content)) toast(`${p.title} sent to the chat.`);
}

// -- quick replies -------------------------------------------------------------------------------------------

function quickReplies() {
  try {
    const saved = JSON.parse(localStorage.getItem(QUICK_KEY) || "null");
    if (Array.isArray(saved) && saved.every((x) => typeof x === "string")) return saved;
  } catch {
    // fall through to the defaults
  }
  return DEFAULT_QUICK_REPLIES;
}

function renderQuick() {
  const open = isOpen(currentSession());
  $("quick").replaceChildren(...quickReplies().map((text) => h("button", {
    type: "button", className: "ac-chip", text, disabled: !open, dataset: { testid: "quick-reply" },
    attrs: { title: "Put this reply in the box" },
    on: { click: () => { const input = $("input"); input.value = text; input.focus(); } },
  })));
}

// -- transfer ----------------------------------------------------------------------------------------------

function transferKind() {
  return document.querySelector("input[name=transfer-kind]:checked").value;
}

function paintTransferKind() {
  const group = transferKind() === "group";
  $("transfer-to-label").textContent = group ? "Group" : "Agent";
  $("transfer-to").placeholder = group ? "group id, e.g. vip" : "username, e.g. bob";
  const options = new Set();
  if (group) {
    for (const s of state.sessions.values()) if (s.group_id) options.add(s.group_id);
    for (const m of state.leftMessages) if (m.group_id) options.add(m.group_id);
  } else {
    for (const s of state.sessions.values()) if (s.transfer && s.transfer.from !== state.me.id) options.add(s.transfer.from);
  }
  $("transfer-options").replaceChildren(...[...options].sort().map((v) => h("option", { value: v })));
}

function openTransfer() {
  const s = currentSession();
  if (!isOpen(s)) return;
  $("transfer-form").reset();
  $("transfer-error").textContent = "";
  $("transfer-submit").disabled = false;
  $("transfer-title").textContent = `Transfer ${nameOf(s)}`;
  paintTransferKind();
  $("transfer-dialog").showModal();
  $("transfer-to").focus();
}

function submitTransfer(e) {
  e.preventDefault();
  const s = currentSession();
  if (!isOpen(s)) { $("transfer-dialog").close(); return; }
  const to = $("transfer-to").value.trim();
  if (!to) { $("transfer-error").textContent = "Say who takes the chat."; return; }
  if (transferKind() === "agent" && to === state.me.id) {
    $("transfer-error").textContent = "That is you. Pick another agent, or a group.";
    return;
  }
  const frame = { action: "transfer", session_id: s.session_id };
  frame[transferKind() === "group" ? "to_group" : "to_agent"] = to;
  const note = $("transfer-note").value.trim();
  if (note) frame.note = note;
  $("transfer-error").textContent = "";
  if (!state.client.raw(frame)) { $("transfer-error").textContent = "Not connected; try again in a moment."; return; }
  state.transferFor = s.session_id;
  $("transfer-submit").disabled = true;
}

// -- wiring --------------------------------------------------------------------------------------------------

function tick() {
  document.querySelectorAll(".ac-wait[data-since]").forEach(waitLabel);
}

function start(auth) {
  state.me = auth.user;
  paintSound();
  renderQuick();
  showTab("answers");
  renderChat();
  renderTools();
  renderList();
  state.client = new ImClient({ url: wsUrl(), token: auth.token, onEvent });
  state.client.connect();
  loadLeftMessages();
  setInterval(loadLeftMessages, LEFT_REFRESH_MS);
  setInterval(tick, 1000);
}

document.addEventListener("pointerdown", unlockAudio);
document.addEventListener("keydown", unlockAudio);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.current) { state.unread.delete(state.current); renderList(); }
});

$("sound").addEventListener("click", () => {
  soundOn = !soundOn;
  localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
  paintSound();
  if (soundOn) { unlockAudio(); beep(); }
});
$("status").addEventListener("change", (e) => {
  const frame = { action: "set_status", status: e.target.value };
  state.client.raw(frame);
});
$("capacity").addEventListener("change", (e) => {
  const capacity = Number(e.target.value);
  if (!Number.isInteger(capacity) || capacity < 1) { e.target.value = state.capacity ?? ""; return; }
  state.client.raw({ action: "set_status", status: $("status").value, capacity });
});
$("refresh-left").addEventListener("click", loadLeftMessages);

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text) return;
  if (sendOwn("text", { text })) $("input").value = "";
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
$("resolve").addEventListener("click", () => {
  const s = currentSession();
  if (isOpen(s)) state.client.raw({ action: "resolve", session_id: s.session_id });
});
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
  if (!safeUrl(url)) { toast("An image address starts with https://", "error"); return; }
  if (sendOwn("image", { url, alt: "Image from the agent" })) {
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
$("send-product").addEventListener("click", () => { showTab("products"); });
$("send-order").addEventListener("click", () => {
  const order = state.current ? state.orders.get(state.current) : null;
  if (order) { sendOrder(order); return; }
  showTab("order");
  $("order-id").focus();
  setText($("order-status"), "Look up an order first, then send it as a card.", "");
});

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

$("tabs").addEventListener("click", (e) => {
  const tab = e.target.closest("[role=tab]");
  if (tab) showTab(tab.dataset.tab);
});
$("tabs").addEventListener("keydown", (e) => {
  if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
  const tabs = [...document.querySelectorAll("#tabs [role=tab]")];
  const i = tabs.findIndex((t) => t.dataset.tab === activeTab);
  const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
  showTab(next.dataset.tab);
  next.focus();
  e.preventDefault();
});
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
$("order-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("order-id").value.trim();
  if (id) lookUpOrder(id);
});
$("ticket-form").addEventListener("submit", createTicket);
$("ticket-fill").addEventListener("click", fillFromChat);

$("transfer-open").addEventListener("click", openTransfer);
$("transfer-cancel").addEventListener("click", () => { state.transferFor = null; $("transfer-dialog").close(); });
$("transfer-form").addEventListener("submit", submitTransfer);
document.querySelectorAll("input[name=transfer-kind]").forEach((r) => r.addEventListener("change", paintTransferKind));

gate({ roles: ["agent", "supervisor", "admin"], deniedText: "The agent console is for agents, supervisors and admins.",
  onStart: start });
