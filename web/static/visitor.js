import {
  ImClient, TEXT, readWatcher, renderMessage, setStatus, suggestionList, typingIndicator, uploadImage, wsUrl,
} from "./imclient.js";
import { productFromPage } from "./product-card.js";
import { signBubble } from "./avatar.js";
import { dateTime, lang, parts, t, tn } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const list = $("messages");
const statusText = document.querySelector("[data-testid=vis-status]");
const connText = document.querySelector("[data-testid=vis-conn]");
const pendingEls = new Map(); // client_msg_id -> element
let session = null;
let client = null;
let offerReason = null;

// This page's words for who is who, the end of a chat and earlier chats ({name} is filled in), from the catalogue.
const WORDS = {
  robot: t("vis.w.robot"),
  you: t("vis.w.you"),
  agent: t("vis.w.agent"),
  joined: t("vis.joined"),
  chattingWith: t("vis.status.chatting"),
  ended: t("vis.chat_ended"),
  endedNotSent: t("vis.ended_not_sent"),
  robotOnly: t("vis.robot_only"),
  withAgent: t("vis.with_agent"),
  earlierFailed: t("vis.earlier_failed"),
  pastHeading: t("vis.past_heading"),
  pastClose: t("vis.past_close"),
  stars: t("vis.stars_shown"),
};
const fill = (text, params) => text.replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ""));

/** The agent as the visitor knows them: the display name the session gives, else the id. */
function agentName(s) {
  return (s && (s.agent_name || s.agent_id)) || WORDS.agent;
}

/** Who sent a message, for its bubble's avatar and name (docs/protocol.md, section 2.8). */
function sender(m, s = session) {
  if (m.sender_role === "robot") return { robot: true, name: WORDS.robot };
  if (m.sender_role === "visitor") return { id: m.sender_id, name: WORDS.you, word: true };
  const name = m.sender_name || (s && m.sender_id === s.agent_id && s.agent_name) || m.sender_id || WORDS.agent;
  return { id: m.sender_id, name };
}

async function visitorToken() {
  const saved = JSON.parse(localStorage.getItem("cs.visitor") || "null");
  if (saved && saved.expires_at * 1000 > Date.now() + 60_000) return saved.token;
  const params = new URLSearchParams(location.search);
  const body = { channel: "web", source: params.get("source") || location.pathname,
    language: lang }; // the page's language: the server's own texts (robot, queue, survey) come in it
  if (params.get("category")) body.category = params.get("category");
  // The shop's page knows its signed-in customer: the agent sees the name (the server keeps 80 characters).
  if (params.get("name")) body.name = params.get("name").trim().slice(0, 80);
  const res = await fetch("/api/visitors/token", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(t("vis.token_failed"));
  const issued = await res.json();
  localStorage.setItem("cs.visitor", JSON.stringify(issued));
  return issued.token;
}

function scroll() { list.scrollTop = list.scrollHeight; }

// The agent's "typing…" under the list, and read receipts for the agent's messages once shown here.
const typingLine = document.createElement("p");
typingLine.className = "typing";
typingLine.dataset.testid = "vis-typing";
typingLine.hidden = true;
list.after(typingLine);
const agentTyping = typingIndicator(typingLine, TEXT.agentTyping);
let watch = null;
function watchRead(el) {
  if (!watch) watch = readWatcher(list, client);
  watch(el);
}

// Kept at the newest message while the reader is there: when a card (queue, leave-a-message, survey) opens under
// the list and shrinks it, on a phone it would otherwise cover the last messages.
let pinned = true;
let seenHeight = list.clientHeight;
list.addEventListener("scroll", () => {
  // The browser's own scroll when the list shrinks comes before the resize is observed: no reader moved.
  if (list.clientHeight !== seenHeight) return;
  pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
});
// The list shrinking (a card opened) or a message growing after it was placed (a font or a picture loaded late)
// both leave the newest line below the edge without a scroll event: watch the list and each message's size.
const keepPinned = new ResizeObserver(() => { seenHeight = list.clientHeight; if (pinned) scroll(); });
keepPinned.observe(list);
new MutationObserver((changes) => {
  for (const change of changes) for (const node of change.addedNodes) if (node.nodeType === 1) keepPinned.observe(node);
  if (pinned) scroll();
}).observe(list, { childList: true });

/** Show a message in seq order: frames can arrive out of order (a reply kept while the line was down comes
 *  with the resume, after a newer one pushed live). */
function place(el, seq) {
  el.dataset.seq = String(seq);
  const later = [...list.querySelectorAll("[data-testid=msg][data-seq]")].find((m) => Number(m.dataset.seq) > seq);
  list.insertBefore(el, later || null);
}

function system(text) {
  const p = document.createElement("p");
  p.className = "system";
  p.textContent = text;
  list.appendChild(p);
  scroll();
}

function minutes(seconds) {
  if (seconds === null || seconds === undefined) return t("vis.wait.unknown");
  if (seconds < 60) return t("vis.wait.under_minute");
  return tn("vis.wait.minutes", Math.round(seconds / 60));
}

function showQueue(q) {
  $("queue").hidden = false;
  $("queue").querySelector("[data-testid=vis-queue-position]").textContent =
    q.position === 1 ? t("vis.queue.next") : t("vis.queue.position", { position: q.position });
  $("queue").querySelector("[data-testid=vis-queue-wait]").textContent =
    t("vis.queue.wait", { wait: minutes(q.estimated_wait_seconds) });
}

function offerLeaveMessage(offer) {
  offerReason = offer.reason;
  if (offer.reason === "left_queue") system(t("vis.left_queue"));
  const form = $("leave-form");
  form.hidden = false;
  form.querySelector("[data-testid=vis-leave-reason]").textContent = offer.message;
  // Still waiting (queue_timeout, no_agents): the place is kept, so asking again stays off.
  if (!session || session.status !== "waiting") $("talk").disabled = false;
}

function confirmLeave(asking) {
  $("leave-queue").hidden = asking;
  $("leave-confirm").hidden = !asking;
  if (asking) $("leave-yes").focus();
}

function showSession(s) {
  session = s;
  if (s.status !== "waiting") { $("queue").hidden = true; confirmLeave(false); }
  const talk = $("talk");
  $("end").hidden = s.status !== "active" && s.status !== "waiting";
  setEnded(s.status === "closed");
  if (s.status === "active") {
    statusText.textContent = fill(WORDS.chattingWith, { name: agentName(s) });
    talk.hidden = true;
    $("leave-form").hidden = true; // an offer made while waiting is moot once someone answers
  } else if (s.status === "waiting") {
    statusText.textContent = t("vis.status.waiting");
    talk.disabled = true;
    $("leave-form").hidden = true;
  } else if (s.status === "closed") {
    statusText.textContent = t("vis.status.ended");
  } else {
    statusText.textContent = t("vis.status.idle");
    talk.hidden = false;
    talk.disabled = false;
  }
}

function greet(robot) {
  const el = renderMessage({ type: "robot", content: { text: robot.greeting } }, { mine: false, status: "" });
  el.dataset.testid = "robot-greeting";
  signBubble(el, { robot: true, name: WORDS.robot });
  if (robot.suggested_questions.length) el.querySelector(".bubble").appendChild(suggestionList(robot.suggested_questions));
  list.prepend(el); // before what the visitor sent while the chat was being opened (else the list is empty)
  scroll();
}

// Sent before the first welcome has named the chat (the socket opens first; on a busy server the welcome can take
// seconds): shown at once as "sending", and sent as soon as the chat is known.
const beforeSession = []; // [element, type, content]

function sendText(text) {
  if (text) sendOwn("text", { text });
}

function sendOwn(type, content) {
  if (session && session.status === "closed") return;
  if (!session) {
    beforeSession.push([addOwn(null, type, content), type, content]);
    return;
  }
  addOwn(client.send(session.session_id, type, content), type, content);
}

/** What was sent before the chat was known, now that it is. */
function sendHeld() {
  for (const [el, type, content] of beforeSession.splice(0)) {
    if (session.status === "closed") { notSentEnded(el, null); continue; }
    const id = client.send(session.session_id, type, content);
    el.dataset.clientMsgId = id;
    pendingEls.set(id, el);
  }
}

function addOwn(clientMsgId, type, content) {
  const el = renderMessage({ type, content, client_msg_id: clientMsgId }, { mine: true, status: "sending" });
  signBubble(el, { id: client.userId, name: WORDS.you, word: true });
  if (clientMsgId) pendingEls.set(clientMsgId, el);
  list.appendChild(el);
  scroll();
  return el;
}

function onEvent(name, data) {
  if (name === "state") {
    connText.textContent = t(`vis.conn.${data}`);
    $("banner").hidden = data !== "reconnecting";
    if (data === "refused") { localStorage.removeItem("cs.visitor"); location.reload(); }
  } else if (name === "welcome") {
    // After "New chat", or a reconnect to a new session (the last one closed meanwhile, e.g. idle), the ended
    // conversation leaves the view: it is under "Earlier chats".
    if (data.session && session && data.session.session_id !== session.session_id) startFresh();
    if (data.session) showSession(data.session);
    loadEarlier();
    if (data.robot && !list.querySelector("[data-testid=robot-greeting]")) greet(data.robot);
    // After ImClient has resent what it still holds unconfirmed on this welcome: these would otherwise go twice.
    if (session) queueMicrotask(sendHeld);
  } else if (name === "session") {
    const was = session;
    // Another tab started a new chat, or this one did (its session frame comes before the welcome).
    if (was && was.status === "closed" && data.session_id !== was.session_id) startFresh();
    showSession(data);
    if (data.status === "active") system(fill(WORDS.joined, { name: agentName(data) }));
    if (data.status === "closed" && !(was && was.status === "closed" && was.session_id === data.session_id)) {
      chatEnded(data);
    }
  } else if (name === "notice") {
    system(data.notice);
  } else if (name === "idle_warning") {
    system(data.message);
  } else if (name === "survey") {
    showSurvey(data);
  } else if (name === "rated") {
    $("survey").hidden = true;
    system(t("vis.rated"));
  } else if (name === "queue") {
    showQueue(data);
  } else if (name === "leave_message_offered") {
    offerLeaveMessage(data);
  } else if (name === "message_left") {
    $("leave-form").hidden = true;
    $("queue").hidden = true;
    system(t("vis.message_left"));
  } else if (name === "message") {
    if (session && data.session_id !== session.session_id) return; // an ended chat's, resumed: it is history now
    const mine = data.sender_role === "visitor";
    if (mine && pendingEls.has(data.client_msg_id)) return;
    const el = renderMessage(data, { mine, status: mine ? (data.read_at ? "read" : data.status) : "" });
    signBubble(el, sender(data));
    if (data.sender_role === "robot" && data.content && data.content.faq_id && !rated.has(data.message_id)) {
      el.querySelector(".bubble").appendChild(feedbackButtons());
    }
    place(el, data.seq);
    if (!mine) agentTyping.clear();
    // The agent's messages not read yet are marked read once shown (the robot's need no receipt).
    if (!mine && data.sender_role !== "robot" && !data.read_at) watchRead(el);
    scroll();
  } else if (name === "read") {
    const el = list.querySelector(`[data-testid=msg][data-message-id="${CSS.escape(data.message_id)}"]`);
    if (el) setStatus(el, "read");
  } else if (name === "typing") {
    if (session && data.session_id === session.session_id) {
      if (data.state === "start") agentTyping.show(data.ttl_ms); else agentTyping.clear();
    }
  } else if (name === "delivered") {
    const el = pendingEls.get(data.client_msg_id);
    if (el) {
      el.dataset.messageId = data.message_id;
      el.dataset.seq = String(data.seq);
      setStatus(el, "delivered");
      pendingEls.delete(data.client_msg_id);
    }
  } else if (name === "stored") {
    // The agent's console is closed for now: kept for the agent ("delivered" follows when it is back).
    const el = pendingEls.get(data.client_msg_id);
    if (el) { el.dataset.messageId = data.message_id; el.dataset.seq = String(data.seq); setStatus(el, "stored"); }
  } else if (name === "send_failed") {
    const el = pendingEls.get(data.client_msg_id);
    if (el) failed(el, data.original);
  } else if (name === "error" && data.code === "expired_token") {
    // Nothing more is processed on this socket: the next visit starts with a new token.
    client.close();
    localStorage.removeItem("cs.visitor");
    system(t("vis.expired"));
  } else if (name === "error") {
    const el = data.client_msg_id && pendingEls.get(data.client_msg_id);
    // Sent as the chat closed: not a failed delivery, and the "chat ended" line already says why.
    if (el && data.code === "session_closed") { notSentEnded(el, data.client_msg_id); return; }
    if (el) failed(el, null);
    system(data.code === "no_agent" ? t("vis.no_agent") : data.message);
  }
}

// -- the end of a chat, and the next one ------------------------------------------------------------------

/** A closed session: the input gives way to the "chat ended" bar and its "New chat" button. */
function setEnded(ended) {
  $("composer").hidden = ended;
  $("input").disabled = ended;
  $("chat-ended").hidden = !ended;
  $("chat-ended-text").textContent = WORDS.ended;
  $("new-chat").disabled = false;
  $("photo").disabled = ended;
  $("card").disabled = ended;
  if (ended) $("talk").hidden = true;
}

function chatEnded(s) {
  agentTyping.clear();
  const line = document.createElement("p");
  line.className = "system ended-line";
  line.dataset.testid = "vis-ended-line";
  line.textContent = WORDS.ended;
  list.appendChild(line);
  scroll();
  // Nothing of this chat is sent again after a reconnect, and it is not resumed: it is over.
  for (const [id, frame] of client.unconfirmed) {
    if (frame.session_id === s.session_id) { client.unconfirmed.delete(id); notSentEnded(pendingEls.get(id), id); }
  }
  client.lastSeq.delete(s.session_id);
  loadEarlier();
}

function notSentEnded(el, clientMsgId) {
  pendingEls.delete(clientMsgId);
  if (!el) return;
  setStatus(el, "ended");
  const mark = el.querySelector(".mark");
  if (mark) { mark.textContent = WORDS.endedNotSent; mark.classList.add("ended"); }
}

/** The new session's view: the ended conversation is gone from it (it is under "Earlier chats"). */
function startFresh() {
  if (session) client.lastSeq.delete(session.session_id);
  list.replaceChildren();
  pendingEls.clear();
  $("survey").hidden = true;
  $("leave-form").hidden = true;
  $("queue").hidden = true;
  $("past-chat").hidden = true;
}

$("new-chat").addEventListener("click", () => {
  // Answered with a welcome naming the new session (and the robot's greeting); see onEvent.
  if (client.raw({ action: "new_session" })) $("new-chat").disabled = true;
});

// -- earlier chats: the visitor's own ended sessions, and one's messages when opened -----------------------

let earlierNext = null;

async function api(path) {
  const res = await fetch(`/api${path}`, { headers: { Authorization: `Bearer ${await visitorToken()}` } });
  if (!res.ok) throw new Error(`${res.status}`);
  return res.json();
}

async function loadEarlier(more = false) {
  let page;
  try {
    page = await api(`/sessions?status=closed&limit=10${more && earlierNext ? `&before=${earlierNext}` : ""}`);
  } catch {
    if (more) system(WORDS.earlierFailed);
    return;
  }
  const items = page.sessions.map(earlierItem);
  if (more) $("earlier-list").append(...items); else $("earlier-list").replaceChildren(...items);
  earlierNext = page.next_before;
  $("earlier-more").hidden = !earlierNext;
  $("earlier").hidden = $("earlier-list").children.length === 0;
}

const when = (ms) => dateTime(ms);

function earlierItem(s) {
  const li = document.createElement("li");
  li.dataset.testid = "vis-earlier-item";
  li.dataset.sessionId = s.session_id;
  const b = document.createElement("button");
  b.type = "button";
  const what = document.createElement("span");
  // The date and who served, apart: the second is a sentence of the catalogue around a name.
  what.append(when(s.created_at), " · ",
    Object.assign(document.createElement("span"), {
      textContent: s.agent_id ? fill(WORDS.withAgent, { name: agentName(s) }) : WORDS.robotOnly }));
  b.appendChild(what);
  if (s.survey && s.survey.status === "answered") {
    const stars = document.createElement("span");
    stars.className = "stars-shown";
    stars.textContent = "★".repeat(s.survey.stars);
    stars.setAttribute("aria-label", fill(WORDS.stars, { n: s.survey.stars }));
    b.appendChild(stars);
  }
  b.addEventListener("click", () => openPast(s));
  li.appendChild(b);
  return li;
}

async function openPast(s) {
  const box = $("past-chat");
  const heading = document.createElement("p");
  heading.className = "system";
  heading.textContent = fill(WORDS.pastHeading, { when: when(s.created_at) });
  const close = document.createElement("button");
  close.type = "button";
  close.className = "ghost small";
  close.textContent = WORDS.pastClose;
  close.addEventListener("click", () => { box.hidden = true; });
  box.replaceChildren(heading, close);
  box.dataset.sessionId = s.session_id;
  box.hidden = false;
  try {
    // A chat is at most a few hundred lines: its pages in order, 100 at a time.
    for (let after = 0, pages = 0; after !== null && pages < 10; pages += 1) {
      const page = await api(`/sessions/${encodeURIComponent(s.session_id)}/messages?after_seq=${after}&limit=100`);
      for (const m of page.messages) {
        const mine = m.sender_role === "visitor";
        box.appendChild(signBubble(renderMessage(m, { mine, status: "" }), sender(m, s)));
      }
      after = page.next_after_seq;
    }
  } catch {
    box.appendChild(Object.assign(document.createElement("p"), { className: "system", textContent: WORDS.earlierFailed }));
  }
}

$("earlier-more").addEventListener("click", () => loadEarlier(true));

// The one satisfaction survey, sent as the chat closes: 1 to 5 stars, optional tags and a comment.
let surveyFor = null;
let stars = 0;
const picked = new Set();

function showSurvey(survey) {
  surveyFor = survey.session_id;
  stars = 0;
  picked.clear();
  const form = $("survey");
  // The server's question (in the chat's language) and the agent's name (data), in the catalogue's order.
  const agent = survey.agent ? Object.assign(document.createElement("span"), {
    textContent: survey.agent.name || survey.agent.id }) : null;
  if (agent) agent.dataset.userContent = "";
  const question = Object.assign(document.createElement("span"), { textContent: survey.question });
  form.querySelector("[data-testid=vis-survey-question]").replaceChildren(
    ...(agent ? parts("vis.survey_agent", { question, agent }) : [question]));
  const tags = form.querySelector("[data-testid=vis-survey-tags]");
  tags.replaceChildren();
  for (const tag of survey.tags) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "tag";
    b.textContent = tag;
    b.setAttribute("aria-pressed", "false");
    b.onclick = () => {
      if (picked.has(tag)) picked.delete(tag); else picked.add(tag);
      b.setAttribute("aria-pressed", String(picked.has(tag)));
    };
    tags.appendChild(b);
  }
  paintStars();
  form.hidden = false;
  scroll();
}

function paintStars() {
  for (const b of $("survey").querySelectorAll("[data-stars]")) {
    b.classList.toggle("on", Number(b.dataset.stars) <= stars);
    b.setAttribute("aria-pressed", String(Number(b.dataset.stars) === stars));
  }
  $("survey").querySelector("[data-testid=vis-survey-send]").disabled = stars === 0;
}

$("survey").addEventListener("click", (e) => {
  const b = e.target.closest("[data-stars]");
  if (b) { stars = Number(b.dataset.stars); paintStars(); }
});

$("survey").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!surveyFor || !stars) return;
  const frame = { action: "rate", session_id: surveyFor, stars, tags: [...picked] };
  const comment = $("survey-comment").value.trim();
  if (comment) frame.comment = comment;
  client.raw(frame);
});

$("end").addEventListener("click", () => {
  if (session) client.raw({ action: "end_session", session_id: session.session_id });
});

function failed(el, original) {
  setStatus(el, "failed");
  if (!original || el.querySelector("[data-testid=retry]")) return;
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "retry";
  retry.dataset.testid = "retry";
  retry.textContent = t("vis.retry");
  retry.onclick = () => {
    el.remove();
    const id = client.retry(original.client_msg_id, original);
    addOwn(id, original.type, original.content);
  };
  el.appendChild(retry);
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text || (session && session.status === "closed")) return;
  $("input").value = "";
  sendText(text);
});
// The agent sees "typing…" while the visitor types (a frame every few seconds at most, see imclient.js).
$("input").addEventListener("input", () => {
  if (!client || !session || session.status !== "active") return;
  if ($("input").value.trim()) client.typing(session.session_id); else client.stopTyping(session.session_id);
});

// Robot answers this page has rated (a resumed answer shows no buttons again; the server keeps one verdict).
const rated = new Set(JSON.parse(sessionStorage.getItem("cs.rated") || "[]"));

/** "Helpful" / "Not helpful" under a robot answer: one verdict per answer (robot_feedback, docs/protocol.md 2.6). */
function feedbackButtons() {
  const box = document.createElement("div");
  box.className = "robot-feedback";
  box.dataset.testid = "robot-feedback";
  for (const [helpful, key] of [[true, "vis.helpful"], [false, "vis.not_helpful"]]) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "ghost";
    b.textContent = t(key);
    b.dataset.helpful = String(helpful);
    b.dataset.testid = helpful ? "robot-helpful" : "robot-not-helpful";
    box.appendChild(b);
  }
  return box;
}

function rate(button) {
  const msg = button.closest("[data-message-id]");
  const box = button.closest(".robot-feedback");
  if (!msg || !box || !session) return;
  const messageId = msg.dataset.messageId;
  client.raw({ action: "robot_feedback", session_id: session.session_id, message_id: messageId,
    helpful: button.dataset.helpful === "true" });
  rated.add(messageId);
  sessionStorage.setItem("cs.rated", JSON.stringify([...rated].slice(-200)));
  const thanks = document.createElement("span");
  thanks.className = "muted";
  thanks.dataset.testid = "robot-feedback-thanks";
  thanks.textContent = t("vis.feedback_thanks");
  box.replaceChildren(thanks);
}

// Taps on the robot's suggested questions, "talk to a person" and "helpful" buttons inside its messages.
list.addEventListener("click", (e) => {
  const button = e.target.closest("button");
  if (!button) return;
  if (button.dataset.helpful) rate(button);
  else if (button.dataset.question) sendText(button.dataset.question);
  else if (button.classList.contains("handoff")) client.requestAgent();
});

$("talk").addEventListener("click", () => client.requestAgent());

// Leaving gives up the place: asked once more, in the card, before it is sent.
$("leave-queue").addEventListener("click", () => confirmLeave(true));
$("leave-stay").addEventListener("click", () => { confirmLeave(false); $("leave-queue").focus(); });
$("leave-yes").addEventListener("click", () => { confirmLeave(false); client.raw({ action: "leave_queue" }); });

$("leave-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("leave-text").value.trim();
  if (!text) return;
  const frame = { action: "leave_message", text, reason: offerReason || "visitor" };
  const contact = $("leave-contact").value.trim();
  if (contact) frame.contact = contact;
  client.raw(frame);
  $("leave-text").value = "";
});

$("photo").addEventListener("click", () => $("photo-file").click());
$("photo-file").addEventListener("change", async () => {
  const file = $("photo-file").files[0];
  $("photo-file").value = "";
  if (!file) return;
  $("photo").disabled = true;
  try {
    sendOwn("image", await uploadImage(file, await visitorToken()));
  } catch (err) {
    system(err.message);
  } finally {
    $("photo").disabled = false;
  }
});

// "Share product" sends the card of the product the shop's page is about, named in the widget's address
// (product-card.js); a page about no product has no such button.
const page = productFromPage();
for (const { param, reason } of page.refused) console.warn(`Customer service widget: ${param} ${reason}`);
$("card").hidden = !page.product;
if (page.product) $("card").title = page.product.title;
$("card").addEventListener("click", () => {
  if (page.product) sendOwn("product", { ...page.product });
});

(async () => {
  try {
    client = new ImClient({ url: wsUrl(), token: await visitorToken(), onEvent });
    client.connect();
  } catch (err) {
    statusText.textContent = t("vis.unavailable");
  }
})();
