// The agent console's one state, and who is told when part of it changes. Panels read `state` and render
// from it; whoever changes it calls `notify(topic)` so the panels that show that part repaint. Topics:
//   "list"     the sessions, their unread counts, the left messages: the left column, the load, the title
//   "chat"     the open conversation's header, banner and buttons
//   "tools"    another conversation was opened: every panel of the right column starts afresh
//   "customer" the open conversation's visitor changed (presence, status)
//   "thread"   the open conversation's messages changed (an order number may have been mentioned)
//   "history"  a conversation's history is wanted (its id is passed)

import { known, t as tr } from "../i18n.js";

export const TITLE = tr("nav.console");

export const CLOSE_REASONS = {
  resolved: tr("con.close.resolved"),
  visitor_ended: tr("con.close.visitor_ended"),
  agent_ended: tr("con.close.agent_ended"),
  idle_timeout: tr("con.close.idle_timeout"),
};
/** How a chat ended, in words: "resolved", or "ended" for a reason the page does not know. */
export const closedHow = (reason) => CLOSE_REASONS[reason] || tr("con.close.ended");

export const PRESENCE = {
  online: tr("con.presence.online"), reconnecting: tr("con.presence.reconnecting"), offline: tr("con.presence.offline"),
};

export const state = {
  me: null,
  client: null,
  current: null,
  status: "online",
  capacity: null,
  sessions: new Map(),    // session id -> session (active ones and those that ended on this page)
  threads: new Map(),     // session id -> {els, ids, maxSeq, lastVisitorAt, lastAgentAt, preview, loaded, mentioned}
  unread: new Map(),      // session id -> visitor messages not read yet
  fresh: new Set(),       // sessions assigned and not opened yet
  pending: new Map(),     // client_msg_id -> {el, sessionId, type, content}: own messages not delivered yet
  suggestions: new Map(), // session id -> the latest suggestions frame
  orders: new Map(),      // session id -> the order looked up for it
  created: new Map(),     // session id -> the ticket created from it
  leftMessages: [],
  leftError: "",
  transferFor: null,      // the session a transfer was asked for, until the answer
};

const listeners = new Map(); // topic -> [listener], called in the order they subscribed

/** Call `listener(...args)` whenever `topic` is notified. */
export function subscribe(topic, listener) {
  if (!listeners.has(topic)) listeners.set(topic, []);
  listeners.get(topic).push(listener);
}

/** Tell every listener of `topic`, synchronously: the page is up to date when this returns. */
export function notify(topic, ...args) {
  for (const listener of listeners.get(topic) || []) listener(...args);
}

// -- reading the state ---------------------------------------------------------------------------------

export function currentSession() {
  return state.current ? state.sessions.get(state.current) || null : null;
}

/** Whether this page serves the chat now: it is active and this user's (not one it only reads, as a supervisor
 *  mentioned in a note of it). */
export function isOpen(s) {
  return Boolean(s) && s.status === "active" && !s.observed;
}

/** The visitor's name, or "Visitor" and the end of its id for an anonymous one. */
export function nameOf(s) {
  if (!s) return tr("con.visitor");
  if (s.visitor_name) return s.visitor_name;
  return s.visitor_id ? tr("con.visitor_short", { id: String(s.visitor_id).slice(-4) }) : tr("con.visitor");
}

/** A session's conversation as shown on this page (created empty on first use). */
export function thread(id) {
  let t = state.threads.get(id);
  if (!t) {
    t = { els: [], ids: new Map(), maxSeq: 0, lastVisitorAt: null, lastAgentAt: null, preview: "", loaded: false,
      mentioned: null };
    state.threads.set(id, t);
  }
  return t;
}

/**
 * Since when the visitor has been waiting for the agent: before the agent's first reply, since they asked for a
 * person (`requested_at`: the time in the queue counts, not only since the assignment); after it, since their
 * last unanswered message.
 */
export function waitingSince(s) {
  if (!isOpen(s)) return null;
  const t = thread(s.session_id);
  const agentAt = t.lastAgentAt || 0;
  const visitorAt = t.lastVisitorAt || 0;
  if (agentAt && agentAt >= visitorAt) return null;
  const from = agentAt ? visitorAt : s.requested_at || s.assigned_at || visitorAt;
  return from || null;
}

/** A message in one line of words: the list's preview, and the visitor's words copied into a ticket. */
export function preview(m) {
  const c = m.content || {};
  switch (m.type) {
    case "text": return c.text || "";
    case "image": return c.alt ? tr("con.preview.image_alt", { alt: c.alt }) : tr("con.preview.image");
    case "product": return tr("con.preview.product", { title: c.title || "", id: c.product_id || "" });
    case "order": return c.status ? tr("con.preview.order_status", { id: c.order_id || "",
      status: known("order.status", c.status) || c.status })
      : tr("con.preview.order", { id: c.order_id || "" });
    case "robot": return tr("con.preview.robot", { text: c.text || "" });
    case "note": return tr("con.preview.note", { text: c.text || "" });
    default: return "";
  }
}

// -- changing the state ----------------------------------------------------------------------------------

/** Open a conversation: it is read now, the centre shows it and the tools start afresh for it. */
export function select(id) {
  const changed = state.current !== id;
  state.current = id;
  state.unread.delete(id);
  state.fresh.delete(id);
  notify("chat");
  notify("list");
  if (changed) notify("tools");
  notify("history", id);
}

/** Forget a session that is no longer this agent's (transferred, or ended while the page was away). */
export function dropSession(id) {
  state.sessions.delete(id);
  state.threads.delete(id);
  state.unread.delete(id);
  state.fresh.delete(id);
  state.suggestions.delete(id);
  state.client.lastSeq.delete(id); // not ours any more: nothing to resume after a reconnect
  if (state.current === id) {
    state.current = null;
    notify("chat");
    notify("tools");
  }
}
