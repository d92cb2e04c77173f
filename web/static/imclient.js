// A reliable client for the customer-service WebSocket protocol (docs/protocol.md).
// It ACKs every delivery, shows each message once (by message_id), resends unconfirmed messages with
// their original client_msg_id after a reconnect, resumes each session from the last seq seen, and
// keeps the connection alive with a heartbeat. It speaks protocol 2: ACKs arriving together go in one frame,
// and one `delivered` may confirm several of its messages.

import { known, shortTime, t } from "./i18n.js";

const HEARTBEAT_MS = 4 * 60 * 1000;
// ACKs are sent at once when none went within this window, else held to its end and sent together: well below
// the server's first retry wait (1 s), and one frame for a burst of messages instead of one each.
const ACK_WINDOW_MS = 100;
const MAX_ACK_IDS = 100;
const PROTOCOL = 2;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
// Typing (docs/protocol.md, "Typing"): one `start` at most this often while the user types; the other side shows
// "typing…" for the server's ttl_ms (6 s), a little longer, so it does not flicker between frames.
const TYPING_RESEND_MS = 4000;
// Messages that became visible within this window are marked read in one frame.
const READ_WINDOW_MS = 300;

// Every string these helpers show, in one place, from the page's catalogue (i18n.js).
export const TEXT = {
  sending: t("msg.sending"), delivered: t("msg.delivered"), read: t("msg.read"), stored: t("msg.stored"),
  failed: t("msg.failed"), typing: t("msg.typing"), agentTyping: t("msg.agent_typing"),
  visitorTyping: t("msg.visitor_typing"),
};

export class ImClient {
  /**
   * @param {{url: string, token: string, onEvent: (name: string, data: any) => void}} options
   *   url: the WebSocket URL without the token; onEvent receives "state", "welcome", "message",
   *   "delivered", "send_failed", "session", "error".
   */
  constructor({ url, token, onEvent }) {
    this.url = url;
    this.token = token;
    this.onEvent = onEvent;
    this.ws = null;
    this.attempt = 0;
    this.closedByUser = false;
    this.seen = new Set();          // message ids already shown
    this.lastSeq = new Map();       // session id -> highest seq shown
    this.unconfirmed = new Map();   // client_msg_id -> the send frame, until delivered/send_failed
    this.heartbeat = null;
    this.userId = null;
    this.everOpened = false;
    this.heldAcks = new Set();      // message ids to ACK when the window ends
    this.ackTimer = null;
    this.lastAckAt = -Infinity;
    this.typingSentAt = new Map();  // session id -> when the last `start` went (ms), while typing
    this.readSent = new Set();      // message ids marked read (or being)
    this.heldReads = [];
    this.readTimer = null;
  }

  connect() {
    this.closedByUser = false;
    this.onEvent("state", this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(`${this.url}?token=${encodeURIComponent(this.token)}&protocol=${PROTOCOL}`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.everOpened = true;
      this.onEvent("state", "open");
      this.raw({ action: "hello" });
      this.heartbeat = setInterval(() => this.raw({ action: "ping" }), HEARTBEAT_MS);
    };
    ws.onmessage = (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch { return; }
      this.handle(frame);
    };
    ws.onclose = (e) => {
      clearInterval(this.heartbeat);
      // Held ACKs died with the socket: what they covered comes again on resume, and is ACKed then.
      clearTimeout(this.ackTimer);
      this.ackTimer = null;
      this.heldAcks.clear();
      if (this.closedByUser) { this.onEvent("state", "closed"); return; }
      this.attempt += 1;
      if (!this.everOpened && this.attempt >= 3) {
        // Never accepted: most likely the token was refused (HTTP 401 on the upgrade).
        this.onEvent("state", "refused");
        return;
      }
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.onEvent("state", "reconnecting");
      setTimeout(() => this.connect(), delay);
    };
  }

  close() {
    this.closedByUser = true;
    if (this.ws) this.ws.close();
  }

  raw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** ACK a delivery: at once when no ACK went within the window, else together with the others held. */
  ack(messageId) {
    const now = performance.now();
    if (this.ackTimer === null && now - this.lastAckAt >= ACK_WINDOW_MS) {
      this.lastAckAt = now;
      this.raw({ action: "ack", message_id: messageId });
      return;
    }
    this.heldAcks.add(messageId);
    if (this.ackTimer === null) {
      this.ackTimer = setTimeout(() => this.flushAcks(), this.lastAckAt + ACK_WINDOW_MS - now);
    }
  }

  flushAcks() {
    this.ackTimer = null;
    this.lastAckAt = performance.now();
    const ids = [...this.heldAcks];
    this.heldAcks.clear();
    this.ackAll(ids);
  }

  /** ACK these in as few frames as the server takes (a resumed backlog: one frame). */
  ackAll(ids) {
    for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
      const chunk = ids.slice(i, i + MAX_ACK_IDS);
      this.raw(chunk.length === 1 ? { action: "ack", message_id: chunk[0] } : { action: "ack", message_ids: chunk });
    }
  }

  /** The user typed in a session's box: a `start` at most every TYPING_RESEND_MS (not one per key). */
  typing(sessionId) {
    const now = performance.now();
    const last = this.typingSentAt.get(sessionId);
    if (last !== undefined && now - last < TYPING_RESEND_MS) return;
    if (this.raw({ action: "typing", session_id: sessionId, state: "start" })) this.typingSentAt.set(sessionId, now);
  }

  /** The box was cleared without sending: `stop`, if a `start` went. Sending needs none (the message clears it). */
  stopTyping(sessionId) {
    if (!this.typingSentAt.delete(sessionId)) return;
    this.raw({ action: "typing", session_id: sessionId, state: "stop" });
  }

  /** A message sent to us is shown in the window: marked read, with the others shown within READ_WINDOW_MS. */
  markRead(messageId) {
    if (!messageId || this.readSent.has(messageId)) return;
    this.readSent.add(messageId);
    this.heldReads.push(messageId);
    if (this.readTimer === null) this.readTimer = setTimeout(() => this.flushReads(), READ_WINDOW_MS);
  }

  flushReads() {
    this.readTimer = null;
    const ids = this.heldReads.splice(0);
    for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
      const chunk = ids.slice(i, i + MAX_ACK_IDS);
      // Not sent (the line is down): marked again when next shown after the reconnect.
      if (!this.raw({ action: "read", message_ids: chunk })) chunk.forEach((id) => this.readSent.delete(id));
    }
  }

  /** Send a message; returns its client_msg_id. It is resent after a reconnect until confirmed. */
  send(sessionId, type, content) {
    this.typingSentAt.delete(sessionId);  // the message ends the typing on the other side
    const frame = { action: "send", session_id: sessionId, client_msg_id: crypto.randomUUID(), type, content };
    this.unconfirmed.set(frame.client_msg_id, frame);
    this.raw(frame);
    return frame.client_msg_id;
  }

  /** Send a failed message's content again, as a new message. */
  retry(clientMsgId, failedFrame) {
    return this.send(failedFrame.session_id, failedFrame.type, failedFrame.content);
  }

  /** Ask for a person (visitors). */
  requestAgent() { this.raw({ action: "request_agent" }); }

  /** online | offline (agents). */
  setStatus(status) { this.raw({ action: "set_status", status }); }

  showOnce(message) {
    if (this.seen.has(message.message_id)) return false;
    this.seen.add(message.message_id);
    const last = this.lastSeq.get(message.session_id) || 0;
    if (message.seq > last) this.lastSeq.set(message.session_id, message.seq);
    return true;
  }

  track(session) {
    if (session && !this.lastSeq.has(session.session_id)) this.lastSeq.set(session.session_id, 0);
  }

  handle(frame) {
    switch (frame.event) {
      case "welcome": {
        this.userId = frame.user.id;
        const sessions = frame.sessions || (frame.session ? [frame.session] : []);
        sessions.forEach((s) => this.track(s));
        this.onEvent("welcome", frame);
        for (const [sessionId, seq] of this.lastSeq) {
          this.raw({ action: "resume", session_id: sessionId, after_seq: seq });
        }
        for (const pending of this.unconfirmed.values()) this.raw(pending);
        break;
      }
      case "message":
        this.ack(frame.message.message_id);
        if (this.showOnce(frame.message)) this.onEvent("message", frame.message);
        // An agent's copy of a visitor text carries the SOP assistant's suggestions frame when it was ready.
        if (frame.suggestions) this.onEvent("suggestions", frame.suggestions);
        break;
      case "resumed": {
        // Everything still owed to us, ACKed in one frame.
        const owed = frame.messages.filter((m) => (m.status === "pending" || m.status === "stored") && m.sender_id !== this.userId);
        this.ackAll(owed.map((m) => m.message_id));
        if (owed.length) this.lastAckAt = performance.now();
        for (const m of frame.messages) {
          if (m.sender_id === this.userId && this.unconfirmed.has(m.client_msg_id)) continue;
          if (this.showOnce(m)) this.onEvent("message", m);
        }
        if (frame.more) this.raw({ action: "resume", session_id: frame.session_id, after_seq: frame.last_seq });
        break;
      }
      case "delivered":
        // Protocol 2: one frame may confirm several messages (`messages`); the page hears of each.
        for (const d of frame.messages || [frame]) {
          this.unconfirmed.delete(d.client_msg_id);
          this.seen.add(d.message_id);
          this.onEvent("delivered", d);
        }
        break;
      case "read":
        // One frame for several of our messages, shown in the recipient's window.
        for (const r of frame.messages) this.onEvent("read", { ...r, read_at: frame.read_at });
        break;
      case "send_failed": {
        const original = this.unconfirmed.get(frame.client_msg_id);
        this.unconfirmed.delete(frame.client_msg_id);
        this.onEvent("send_failed", { ...frame, original });
        break;
      }
      case "session":
        this.track(frame.session);
        // The notice first: it announces the change the session then shows ("you are being transferred to ..."
        // before the next agent joins).
        if (frame.notice) this.onEvent("notice", frame);
        this.onEvent("session", frame.session);
        break;
      case "pong":
      case "status":
        this.onEvent(frame.event, frame);
        break;
      case "error":
        if (frame.client_msg_id) this.unconfirmed.delete(frame.client_msg_id);
        // ACKs refused for now (too many that changed nothing): those that still deliver go through later.
        if (frame.action === "ack" && frame.code === "rate_limited") {
          const ids = frame.message_ids || (frame.message_id ? [frame.message_id] : []);
          setTimeout(() => this.ackAll(ids), frame.retry_after_ms || 1000);
        }
        // Reads and typing are best effort: a refused read is tried again the next time the message is shown;
        // a typing frame is never resent. The page is not bothered with either.
        if (frame.action === "read") {
          (frame.message_ids || []).forEach((id) => this.readSent.delete(id));
          break;
        }
        if (frame.action === "typing") break;
        this.onEvent("error", frame);
        break;
      default:
        // queue, leave_message_offered, message_left, dashboard.*: the page decides.
        this.onEvent(frame.event, frame);
        break;
    }
  }
}

/** DOM for one message; content is always set as text, links only for http(s) URLs. */
export function renderMessage(message, { mine, status }) {
  const el = document.createElement("div");
  el.className = `msg ${mine ? "mine" : "theirs"}`;
  el.dataset.testid = "msg";
  el.dataset.mine = mine ? "1" : "0";
  el.dataset.type = message.type;
  if (message.message_id) el.dataset.messageId = message.message_id;
  if (message.client_msg_id) el.dataset.clientMsgId = message.client_msg_id;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.appendChild(renderContent(message.type, message.content || {}));
  el.appendChild(bubble);
  const meta = document.createElement("div");
  meta.className = "meta";
  const time = document.createElement("span");
  time.textContent = shortTime(message.created_at || Date.now());
  meta.appendChild(time);
  const mark = document.createElement("span");
  mark.className = "mark";
  meta.appendChild(mark);
  el.appendChild(meta);
  setStatus(el, status);
  return el;
}

export function setStatus(el, status) {
  el.dataset.status = status || "";
  const mark = el.querySelector(".mark");
  if (!mark) return;
  mark.textContent = (status && TEXT[status]) || "";
}

/**
 * Marks read the messages of `box` sent to us (elements with data-read-watch) once they are in its viewport
 * while the page is visible: an IntersectionObserver, and a look again when the page becomes visible.
 * Returns `watch(el)`, to call for each such element added.
 */
export function readWatcher(box, client) {
  const inView = new Set();
  const flush = () => {
    if (document.visibilityState !== "visible") return;
    for (const el of inView) {
      if (!el.isConnected) { inView.delete(el); continue; }
      client.markRead(el.dataset.messageId);
      inView.delete(el);
      observer.unobserve(el);
    }
  };
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.isIntersecting) inView.add(e.target); else inView.delete(e.target);
    }
    flush();
  }, { root: box, threshold: 0.5 });
  document.addEventListener("visibilitychange", flush);
  return (el) => { if (el.dataset.messageId) observer.observe(el); };
}

/** "typing…" in `el` for `ttlMs`, renewed by each `start`; cleared by `stop`, a message, or the time running out. */
export function typingIndicator(el, words) {
  let timer = null;
  const clear = () => { clearTimeout(timer); timer = null; el.hidden = true; };
  return {
    show(ttlMs) {
      el.textContent = words;
      el.hidden = false;
      clearTimeout(timer);
      timer = setTimeout(clear, ttlMs || 6000);
    },
    clear,
  };
}

function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

/** An element of a message's box that says the page's own words, not the sender's: checked like the page's. */
function pageWords(el) {
  el.dataset.pageWords = "";
  return el;
}

function text(tag, value, className) {
  const el = document.createElement(tag);
  el.textContent = value == null ? "" : String(value);
  if (className) el.className = className;
  return el;
}

function money(value, currency) {
  if (typeof value !== "number") return "";
  return `${value.toFixed(2)} ${currency || ""}`.trim();
}

export function renderContent(type, content) {
  const box = document.createElement("div");
  // What a message says is the sender's (or the knowledge base's), not the page's words: data for the catalogue test.
  box.dataset.userContent = "";
  if (type === "text") {
    box.appendChild(text("p", content.text));
  } else if (type === "image") {
    const url = safeUrl(content.url);
    if (url) {
      const img = document.createElement("img");
      img.src = url;
      img.alt = content.alt || t("msg.image_alt");
      img.className = "chat-image";
      // The bubble shows a thumbnail; a click opens the photo at full size (a damaged parcel, a label...).
      const link = document.createElement("a");
      link.href = url; link.target = "_blank"; link.rel = "noopener noreferrer";
      link.title = t("msg.open_image");
      link.appendChild(img);
      box.appendChild(link);
    } else {
      box.appendChild(text("p", t("msg.image_missing")));
    }
  } else if (type === "product") {
    box.className = "card product";
    const img = safeUrl(content.image_url);
    if (img) { const i = document.createElement("img"); i.src = img; i.alt = ""; box.appendChild(i); }
    box.appendChild(text("strong", content.title));
    box.appendChild(text("span", money(content.price, content.currency), "price"));
    const link = safeUrl(content.url);
    if (link) {
      const a = pageWords(text("a", t("msg.view_product")));
      a.href = link; a.target = "_blank"; a.rel = "noopener noreferrer";
      box.appendChild(a);
    }
  } else if (type === "order") {
    box.className = "card order";
    box.appendChild(pageWords(text("strong", t("msg.order", { id: content.order_id }))));
    if (content.status) {
      // A status the catalogue knows reads in the page's language; any other is the shop's word, as it came.
      const words = known("order.status", content.status);
      const badge = text("span", words || content.status, "badge");
      box.appendChild(words ? pageWords(badge) : badge);
    }
    const list = document.createElement("ul");
    for (const item of content.items || []) {
      list.appendChild(text("li", `${item.quantity || 1} × ${item.title}${item.price != null ? " — " + money(item.price, content.currency) : ""}`));
    }
    box.appendChild(list);
    if (content.total != null) {
      box.appendChild(pageWords(text("span", t("msg.total", { amount: money(content.total, content.currency) }), "price")));
    }
  } else if (type === "robot") {
    box.className = "robot";
    box.appendChild(linkified(content.text));
    if (content.suggestions && content.suggestions.length) box.appendChild(suggestionList(content.suggestions));
    // Order self-service (protocol.md 2.6): the order's card with its status in the chat's language, the next
    // steps the shop allows, or the visitor's recent orders to pick from (a tap sends the order's number).
    if (content.order) {
      const card = renderContent("order", { ...content.order, status: content.order_status_text || content.order.status });
      card.dataset.testid = "robot-order";
      box.appendChild(card);
    }
    if (content.orders && content.orders.length) box.appendChild(orderChoices(content.orders));
    const actions = content.actions || [];
    if (actions.length) box.appendChild(orderActions(actions));
    if (content.handoff && !actions.some((a) => a.handoff)) {
      const person = pageWords(text("button", t("msg.talk"), "ghost handoff"));
      person.type = "button";
      person.dataset.testid = "robot-handoff";
      box.appendChild(person);
    }
  }
  return box;
}

// Robot answers carry links (https only); everything else stays text.
function linkified(value) {
  const p = document.createElement("p");
  const source = value == null ? "" : String(value);
  let last = 0;
  for (const m of source.matchAll(/https:\/\/[^\s<>"')]+/g)) {
    p.appendChild(document.createTextNode(source.slice(last, m.index)));
    const a = text("a", m[0]);
    a.href = m[0]; a.target = "_blank"; a.rel = "noopener noreferrer";
    p.appendChild(a);
    last = m.index + m[0].length;
  }
  p.appendChild(document.createTextNode(source.slice(last)));
  return p;
}

// An order's next steps: a link to the shop's own page, or a person (the "talk to a person" button, labelled).
function orderActions(actions) {
  const list = document.createElement("div");
  list.className = "order-actions";
  for (const action of actions) {
    const url = safeUrl(action.url);
    if (url) {
      const a = text("a", action.label, "order-action");
      a.href = url; a.target = "_blank"; a.rel = "noopener noreferrer";
      a.dataset.testid = "robot-order-action";
      list.appendChild(a);
    } else if (action.handoff) {
      const b = text("button", action.label, "ghost handoff order-action");
      b.type = "button";
      b.dataset.testid = "robot-order-action";
      list.appendChild(b);
    }
  }
  return list;
}

// The visitor's recent orders, to pick one: a tap sends its number as the visitor's message.
function orderChoices(orders) {
  const list = document.createElement("div");
  list.className = "suggested";
  for (const o of orders) {
    const parts = [o.order_id, o.status_text || o.status, o.title, money(o.total, o.currency)].filter(Boolean);
    const b = text("button", parts.join(" · "), "suggestion");
    b.type = "button";
    b.dataset.testid = "robot-order-choice";
    b.dataset.question = o.order_id;
    list.appendChild(b);
  }
  return list;
}

// Questions the visitor can tap; the page sends the tapped one as the visitor's own message.
export function suggestionList(suggestions) {
  const list = document.createElement("div");
  list.className = "suggested";
  list.dataset.userContent = ""; // FAQ questions: the knowledge base's words
  for (const s of suggestions) {
    const b = text("button", s.question, "suggestion");
    b.type = "button";
    b.dataset.testid = "robot-suggestion";
    b.dataset.question = s.question;
    list.appendChild(b);
  }
  return list;
}

export function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

// Photos (docs/protocol.md, "Sending a photo"): the server takes these types, at most 4 MB. Larger photos, and any
// wider than MAX_IMAGE_SIDE, are re-encoded as JPEG first: a phone's 12 MB photo becomes a few hundred KB.
const IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"];
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;
const MAX_IMAGE_SIDE = 1600;
const SHRINK_ABOVE_BYTES = 1024 * 1024;

async function shrunk(file) {
  if (file.type === "image/gif" && file.size <= MAX_UPLOAD_BYTES) return file; // keep the animation
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_IMAGE_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.size <= SHRINK_ABOVE_BYTES && IMAGE_TYPES.includes(file.type)) return file;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error(t("msg.image_unreadable")))), "image/jpeg", 0.85));
}

/**
 * Uploads a picked image file with the caller's bearer token; resolves to the image message's content
 * `{url, alt}` or rejects with an Error whose message can be shown as it is.
 */
export async function uploadImage(file, token) {
  if (!file.type.startsWith("image/")) throw new Error(t("msg.only_images"));
  let body;
  try { body = await shrunk(file); } catch { throw new Error(t("msg.image_unreadable")); }
  const res = await fetch("/api/uploads", {
    method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": body.type }, body,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || t("msg.image_not_sent", { status: res.status }));
  return { url: new URL(data.path, location.origin).href, alt: file.name.slice(0, 200) || t("msg.image_alt") };
}
