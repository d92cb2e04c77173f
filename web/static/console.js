import { ImClient, renderMessage, setStatus, wsUrl } from "./imclient.js";

const $ = (id) => document.getElementById(id);
const sessions = new Map();   // session id -> session
const threads = new Map();    // session id -> [element]
const unread = new Map();     // session id -> count
const pendingEls = new Map(); // client_msg_id -> element
const suggestionsBy = new Map(); // session id -> the latest suggestions frame
let current = null;
let client = null;
let me = null;

function auth() { return JSON.parse(sessionStorage.getItem("cs.agent") || "null"); }

async function signIn(e) {
  e.preventDefault();
  $("login-error").textContent = "";
  const res = await fetch("/api/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("user").value, password: $("pass").value }),
  });
  const body = await res.json();
  if (!res.ok) { $("login-error").textContent = body.error ? body.error.message : "Sign-in failed"; return; }
  sessionStorage.setItem("cs.agent", JSON.stringify(body));
  start();
}

function thread(id) {
  if (!threads.has(id)) threads.set(id, []);
  return threads.get(id);
}

function renderList() {
  const ul = $("session-list");
  ul.replaceChildren();
  $("no-sessions").hidden = sessions.size > 0;
  for (const s of sessions.values()) {
    const li = document.createElement("li");
    li.dataset.testid = "session-item";
    li.dataset.sessionId = s.session_id;
    li.className = s.session_id === current ? "active" : "";
    const name = document.createElement("span");
    name.textContent = s.visitor_name || s.visitor_id;
    li.appendChild(name);
    const n = unread.get(s.session_id) || 0;
    if (n) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.dataset.testid = "unread";
      badge.textContent = String(n);
      li.appendChild(badge);
    }
    li.onclick = () => select(s.session_id);
    ul.appendChild(li);
  }
}

async function loadHistory(id) {
  let after = 0;
  for (;;) {
    const res = await fetch(`/api/sessions/${encodeURIComponent(id)}/messages?after_seq=${after}&limit=100`, {
      headers: { Authorization: `Bearer ${auth().token}` },
    });
    if (!res.ok) return;
    const page = await res.json();
    for (const m of page.messages) addMessage(m);
    if (page.next_after_seq == null) return;
    after = page.next_after_seq;
  }
}

function select(id) {
  current = id;
  unread.set(id, 0);
  const s = sessions.get(id);
  $("chat-head").textContent = `${s.visitor_name || s.visitor_id} · ${s.channel || "web"}${s.source ? " · " + s.source : ""}`;
  $("messages").replaceChildren(...thread(id));
  const info = $("visitor-info");
  info.replaceChildren();
  for (const [k, v] of [["Visitor", s.visitor_name || s.visitor_id], ["Channel", s.channel], ["Source", s.source],
    ["Category", s.category], ["Status", s.status]]) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v || "—";
    info.append(dt, dd);
  }
  renderList();
  renderSuggestions();
  if (!thread(id).length) loadHistory(id);
}

function addMessage(m) {
  const mine = m.sender_id === me.id;
  if (mine && pendingEls.has(m.client_msg_id)) return;
  if (thread(m.session_id).some((el) => el.dataset.messageId === m.message_id)) return;
  const el = renderMessage(m, { mine, status: mine ? m.status : "" });
  thread(m.session_id).push(el);
  if (m.session_id === current) {
    $("messages").appendChild(el);
    $("messages").scrollTop = $("messages").scrollHeight;
  } else if (!mine) {
    unread.set(m.session_id, (unread.get(m.session_id) || 0) + 1);
    renderList();
  }
}

function sendOwn(type, content) {
  if (!current) return;
  const id = client.send(current, type, content);
  const el = renderMessage({ type, content, client_msg_id: id, session_id: current }, { mine: true, status: "sending" });
  pendingEls.set(id, el);
  thread(current).push(el);
  $("messages").appendChild(el);
  $("messages").scrollTop = $("messages").scrollHeight;
}

function onEvent(name, data) {
  if (name === "state") {
    $("conn").textContent = data;
    if (data === "refused") { sessionStorage.removeItem("cs.agent"); location.reload(); }
  } else if (name === "welcome") {
    for (const s of data.sessions || []) sessions.set(s.session_id, s);
    renderList();
  } else if (name === "session") {
    const isNew = !sessions.has(data.session_id);
    sessions.set(data.session_id, data);
    if (isNew) document.title = "● New conversation — Agent console";
    renderList();
    if (!current) select(data.session_id);
  } else if (name === "message") {
    addMessage(data);
  } else if (name === "delivered") {
    const el = pendingEls.get(data.client_msg_id);
    if (el) { el.dataset.messageId = data.message_id; setStatus(el, "delivered"); pendingEls.delete(data.client_msg_id); }
  } else if (name === "send_failed") {
    const el = pendingEls.get(data.client_msg_id);
    if (el) setStatus(el, "failed");
  } else if (name === "status") {
    $("status").value = data.status;
  } else if (name === "suggestions") {
    suggestionsBy.set(data.session_id, data);
    if (data.session_id === current) renderSuggestions();
  }
}

// The SOP assistant: FAQ answers for the visitor's latest message, each with why it matched.
function renderSuggestions() {
  const box = $("sop-list");
  const frame = suggestionsBy.get(current);
  box.replaceChildren();
  if (!frame || !frame.suggestions.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "FAQ answers for the visitor's messages appear here.";
    box.appendChild(p);
    return;
  }
  for (const s of frame.suggestions) {
    const item = document.createElement("div");
    item.className = "sop-item";
    item.dataset.testid = "sop-item";
    const q = document.createElement("strong");
    q.textContent = s.question;
    const why = document.createElement("div");
    why.className = "why";
    why.textContent = `matched “${s.why.matched}” · score ${s.score.toFixed(2)}`;
    const answer = document.createElement("p");
    answer.textContent = s.answer;
    const send = document.createElement("button");
    send.type = "button";
    send.dataset.testid = "sop-send";
    send.textContent = "Send";
    send.onclick = () => sendOwn("text", { text: s.answer });
    item.append(q, why, answer, send);
    box.appendChild(item);
  }
}

function start() {
  const a = auth();
  if (!a) return;
  me = a.user;
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").textContent = `${me.name} (${me.role})`;
  client = new ImClient({ url: wsUrl(), token: a.token, onEvent });
  client.connect();
}

$("login-form").addEventListener("submit", signIn);
$("signout").onclick = () => { sessionStorage.removeItem("cs.agent"); client && client.close(); location.reload(); };
$("status").onchange = (e) => client.setStatus(e.target.value);
$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text) return;
  $("input").value = "";
  sendOwn("text", { text });
});
$("end-chat").onclick = () => {
  if (current) client.raw({ action: "end_session", session_id: current });
};
$("send-image").onclick = () => {
  const url = prompt("Image URL (https://…)");
  if (url) sendOwn("image", { url, alt: "image from agent" });
};
$("send-product").onclick = () => sendOwn("product", {
  product_id: "SKU-2231", title: "Hydra Cream 50 ml", price: 24.5, currency: "USD", url: "https://shop.example.com/p/SKU-2231",
});
$("send-order").onclick = () => sendOwn("order", {
  order_id: "SO-88121", status: "shipped", total: 114.4, currency: "USD",
  items: [{ title: "Trail Runner 2", quantity: 1, price: 89.9 }, { title: "Hydra Cream 50 ml", quantity: 1, price: 24.5 }],
});
document.addEventListener("visibilitychange", () => { if (!document.hidden) document.title = "Agent console"; });
start();
