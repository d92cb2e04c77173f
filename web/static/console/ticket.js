// Ticket: create one from this chat (subject, the visitor's words, the order, a priority); the
// customer's tickets below, each opening in the ticket console.

import { api } from "../auth.js";
import { $, h, DASH, dateTime } from "../ui.js";
import { setText, ticketStatusPill } from "./format.js";
import { currentSession, nameOf, state, subscribe, thread } from "./store.js";
import { t as tr } from "../i18n.js";

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

/** A ticket's subject as a link: the agent's words, data to the page. */
function subjectLink(ticket) {
  const link = ticketLink(ticket, ticket.subject);
  link.dataset.userContent = "";
  return link;
}

function showCreated(ticket) {
  const status = $("ticket-status");
  if (!ticket) { setText(status, ""); return; }
  status.dataset.kind = "ok";
  status.replaceChildren(tr("con.ticket.created", { id: ticket.ticket_id }), " ", ticketLink(ticket, tr("con.ticket.open_it")));
}

async function createTicket(e) {
  e.preventDefault();
  const s = currentSession();
  if (!s) return;
  const subject = $("ticket-subject").value.trim();
  const status = $("ticket-status");
  $("ticket-subject").setAttribute("aria-invalid", String(!subject));
  if (!subject) { setText(status, tr("con.ticket.no_subject"), "error"); $("ticket-subject").focus(); return; }
  const body = { session_id: s.session_id, subject, description: $("ticket-description").value.trim(),
    priority: $("ticket-priority").value };
  const orderRef = $("ticket-order").value.trim();
  if (orderRef) body.order_ref = orderRef;
  $("ticket-create").disabled = true;
  setText(status, tr("con.ticket.creating"), "");
  try {
    const ticket = await api("/tickets", { method: "POST", body });
    state.created.set(s.session_id, ticket);
    if (state.current === s.session_id) {
      $("ticket-form").reset();
      showCreated(ticket);
      loadCustomerTickets();
    }
  } catch (err) {
    setText(status, err.field ? tr("common.error_field", { message: err.message, field: err.field }) : err.message, "error");
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
      subjectLink(t), ticketStatusPill(t.status),
      h("span", { className: "muted" }, h("span", { text: tr(`tk.value.priority.${t.priority}`) }), " · ",
        dateTime(t.updated_at))))
      : [h("li", { className: "muted", text: tr("con.ticket.none") })]));
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

subscribe("tools", renderTicketPanel);

$("ticket-form").addEventListener("submit", createTicket);
$("ticket-fill").addEventListener("click", fillFromChat);
