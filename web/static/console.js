// The agent console, one page in three columns: the agent's chats (online, offline, left messages), the
// conversation, and tools for it (FAQ answers, customer, order lookup, ticket, product recommendations).
// It speaks the WebSocket protocol (docs/protocol.md) through ImClient and the REST API (docs/openapi.yaml)
// through auth.js. Everything that comes from visitors or the server is set as text, never parsed as HTML.
//
// Each panel is a module of console/ that renders from the one state in console/store.js and repaints
// when the store notifies the part it shows; console/events.js turns the server's frames into changes.
// This file signs the agent in and starts them.

import { ImClient, wsUrl } from "./imclient.js";
import { gate } from "./sign-in.js";
import { paintSound } from "./console/alerts.js";
import "./console/answers.js";
import { loadCanned } from "./console/canned.js";
import "./console/customer.js";
import "./console/orders.js";
import "./console/ticket.js";
import "./console/products.js";
import "./console/search.js";
import { onEvent } from "./console/events.js";
import { loadLeftMessages } from "./console/left-messages.js";
import { renderQuick } from "./console/quick-replies.js";
import "./console/shortcuts.js";
import { tick } from "./console/sessions.js";
import { notify, state } from "./console/store.js";
import { loadReasons } from "./console/wrapup.js";
import { showTab } from "./console/tabs.js";
import { t } from "./i18n.js";

const LEFT_REFRESH_MS = 30_000;

function start(auth) {
  state.me = auth.user;
  paintSound();
  renderQuick();
  showTab("answers");
  notify("chat");
  notify("tools");
  notify("list");
  state.client = new ImClient({ url: wsUrl(), token: auth.token, onEvent });
  state.client.connect();
  loadLeftMessages();
  loadCanned();
  // The groups' names (and reasons), read once: the panels that name a group by its id show it in the page's words.
  loadReasons().then(() => { notify("tools"); notify("list"); }).catch(() => {});
  setInterval(loadLeftMessages, LEFT_REFRESH_MS);
  setInterval(tick, 1000);
}

gate({ roles: ["agent", "supervisor", "admin"], deniedText: t("con.denied"), onStart: start });
