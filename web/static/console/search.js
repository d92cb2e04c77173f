// Conversation search (GET /api/conversations, docs/openapi.yaml): closed chats of the groups this staff member
// may see, by words, customer, order number, dates, group, agent, rating and wrap-up reason. A hit shows who,
// when, where, who served and the rating, with the matching words marked; opening it shows the transcript
// read-only (console/../transcript.js). Everything from the server is set as text.

import { api } from "../auth.js";
import { $, h, DASH } from "../ui.js";
import { dateTime, localName, t, tn } from "../i18n.js";
import { showTranscript } from "../transcript.js";
import { nameOf, state } from "./store.js";
import { reasonLabel } from "./wrapup.js";

const DAY_MS = 86_400_000;
const FIELDS = { q: "search-q", customer: "search-customer", order: "search-order", group: "search-group",
  agent: "search-agent", rating: "search-rating", wrapup: "search-wrapup" };

const view = { params: null, cursor: null, asked: 0, groupsLoaded: false };

/** A date input's day as epoch ms at the start of that day in this browser's time zone (null when empty). */
function dayStart(input) {
  return input.value ? new Date(`${input.value}T00:00:00`).getTime() : null;
}

function params() {
  const out = new URLSearchParams();
  for (const [name, id] of Object.entries(FIELDS)) {
    const value = $(id).value.trim();
    if (value) out.set(name, value);
  }
  const from = dayStart($("search-from"));
  const to = dayStart($("search-to"));
  if (from !== null) out.set("from", String(from));
  if (to !== null) out.set("to", String(to + DAY_MS)); // through the end of that day
  return out;
}

function stars(n) {
  return n ? "★".repeat(n) + "☆".repeat(5 - n) : t("search.not_rated");
}

function snippet(s) {
  if (!s) return null;
  return h("p", { className: "ac-search-snippet", dataset: { testid: "search-snippet", side: s.side } },
    h("span", { className: "muted", text: t(s.side === "visitor" ? "search.side.visitor" : "search.side.agent") }), " ",
    h("span", { dataset: { userContent: "" } },
      ...s.parts.map((p) => (p.match ? h("mark", { text: p.text }) : p.text))));
}

/** The customer as the console names visitors everywhere: the name, else the shop's id, else "Visitor df73". */
function customerName(hit) {
  const c = hit.customer || {};
  return c.name || c.customer_id || nameOf({ visitor_id: c.visitor_id });
}

/** The hit's group in the page's language (`group_names`), else as the server named it, else its id. */
function hitGroup(hit) {
  return localName({ name: hit.group_name, names: hit.group_names }, hit.group_id || "");
}

function hitItem(hit) {
  const open = h("button", { type: "button", className: "ac-search-hit", dataset: { testid: "search-hit", sessionId: hit.session_id },
    on: { click: () => openHit(hit) } },
  h("span", { className: "ac-conv-top" },
    h("strong", { className: "ac-conv-name", text: customerName(hit), dataset: { testid: "search-hit-customer", userContent: "" } }),
    h("span", { className: "ac-when", text: dateTime(hit.created_at), dataset: { testid: "search-hit-date" } })),
  h("span", { className: "ac-conv-tags" },
    h("span", { text: hitGroup(hit) || DASH, dataset: { testid: "search-hit-group", userContent: "" } }),
    h("span", { text: hit.agent_name || hit.agent_id || DASH, dataset: { testid: "search-hit-agent", userContent: "" } }),
    h("span", { className: "ac-stars", text: stars(hit.rating), dataset: { testid: "search-hit-rating" },
      attrs: { "aria-label": hit.rating ? t("search.rating_of", { n: hit.rating }) : t("search.not_rated") } }),
    hit.wrapup ? h("span", { text: reasonLabel(hit.group_id, hit.wrapup), dataset: { testid: "search-hit-wrapup", userContent: "" } }) : null),
  snippet(hit.snippet));
  return h("li", {}, open);
}

async function run(more = false) {
  const asked = ++view.asked; // a newer search wins over an older answer
  if (!more) {
    view.params = params();
    view.cursor = null;
    $("search-results").replaceChildren();
  }
  const query = new URLSearchParams(view.params);
  if (more && view.cursor) query.set("cursor", view.cursor);
  $("search-status").textContent = t("common.loading");
  $("search-status").dataset.kind = "";
  try {
    const data = await api(`/conversations?${query}`);
    if (asked !== view.asked) return;
    $("search-results").append(...data.conversations.map(hitItem));
    view.cursor = data.next_cursor;
    $("search-more").hidden = !data.next_cursor;
    const shown = $("search-results").children.length;
    $("search-status").textContent = shown ? tn("search.count", shown) : t("search.none");
  } catch (err) {
    if (asked !== view.asked) return;
    $("search-more").hidden = true;
    $("search-status").textContent = err.field ? t("search.refused", { message: err.message }) : t("search.failed", { message: err.message });
    $("search-status").dataset.kind = "error";
  }
}

function openHit(hit) {
  $("search-find").hidden = true;
  $("search-view").hidden = false;
  $("search-view-title").textContent = customerName(hit);
  $("search-view-title").dataset.userContent = "";
  $("search-view-sub").textContent = [dateTime(hit.created_at), hitGroup(hit), hit.agent_name || hit.agent_id,
    stars(hit.rating)].filter(Boolean).join(" · ");
  $("search-view-sub").dataset.userContent = "";
  showTranscript($("search-transcript"), hit.session_id,
    { visitor: customerName(hit), agent: hit.agent_name, agentId: hit.agent_id });
  $("search-back").focus();
}

function back() {
  $("search-view").hidden = true;
  $("search-find").hidden = false;
  const first = $("search-results").querySelector("button");
  (first || $("search-q")).focus();
}

async function loadGroups() {
  if (view.groupsLoaded) return;
  try {
    const found = await api("/transfer-targets");
    const mine = found.groups.filter((g) => g.mine || (state.me && state.me.role === "admin"));
    $("search-group").append(...mine.map((g) => h("option", { value: g.id, text: localName(g, g.id), dataset: { userContent: "" } })));
    view.groupsLoaded = true;
  } catch {
    // The filter stays at "Any": the search itself still works.
  }
}

function open() {
  $("search-dialog").showModal();
  loadGroups();
  $("search-q").focus();
}

$("search-open").addEventListener("click", open);
$("search-close").addEventListener("click", () => $("search-dialog").close());
$("search-back").addEventListener("click", back);
$("search-more").addEventListener("click", () => run(true));
$("search-form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
$("search-form").addEventListener("reset", () => {
  $("search-results").replaceChildren();
  $("search-more").hidden = true;
  $("search-status").textContent = "";
});
