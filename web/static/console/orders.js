// Order: look an order up (prefilled with the last order number the visitor mentioned), send it into the
// chat as an order card or use it in a ticket; the customer's recent orders below.

import { api } from "../auth.js";
import { $, h, DASH, dateTime } from "../ui.js";
import { toast } from "./alerts.js";
import { sendOwn } from "./chat.js";
import { money, pill, setText } from "./format.js";
import { currentSession, isOpen, state, subscribe } from "./store.js";
import { showTab } from "./tabs.js";
import { known, t as tr } from "../i18n.js";

/** The shop's own words for its order: data, as the shop's API gives them. */
function shopWords(el) {
  el.dataset.userContent = "";
  return el;
}

/** An order's status as a pill: in the page's language when the catalogue knows it ("shipped": "已发货"), else
 *  the shop's own word. */
function statusPill(status) {
  const words = known("order.status", status);
  if (!words) return shopWords(pill(status));
  const el = pill(status);
  el.textContent = words;
  return el;
}

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
      h("td", { text: `${i.quantity ?? 1} ×` }), h("td", { text: i.title, dataset: { userContent: "" } }),
      h("td", { className: "num", text: money(i.price, order.currency) })))));
  box.replaceChildren(h("article", { className: "ac-order", dataset: { testid: "order-card", orderId: order.order_id } },
    h("header", {}, h("strong", { text: tr("con.order.title", { id: order.order_id }) }),
      statusPill(order.status)),
    h("p", { className: "muted", text: order.customer_id
      ? tr("con.order.placed_by", { time: dateTime(order.created_at), customer: order.customer_id })
      : tr("con.order.placed", { time: dateTime(order.created_at) }) }),
    items,
    h("p", { className: "ac-total" }, tr("con.order.total"), " ", h("strong", { text: money(order.total, order.currency) })),
    h("dl", { className: "ac-facts" },
      h("dt", { text: tr("con.order.carrier") }), h("dd", { text: ship.carrier || DASH, dataset: { userContent: "" } }),
      h("dt", { text: tr("con.order.tracking") }), h("dd", { text: ship.tracking_number || DASH, dataset: { userContent: "" } }),
      h("dt", { text: tr("con.order.arrives") }), h("dd", { text: ship.eta || DASH, dataset: { userContent: "" } })),
    h("div", { className: "form-actions" },
      h("button", { type: "button", className: "small", text: tr("con.order.send_chat"), dataset: { testid: "order-send" },
        disabled: !isOpen(currentSession()), on: { click: () => sendOrder(order) } }),
      h("button", { type: "button", className: "ghost small", text: tr("con.order.to_ticket"), dataset: { testid: "order-to-ticket" },
        on: { click: () => { $("ticket-order").value = order.order_id; showTab("ticket"); $("ticket-subject").focus(); } } }))));
}

function sendOrder(order) {
  if (sendOwn("order", orderCard(order))) toast(tr("con.order.sent", { id: order.order_id }));
}

async function lookUpOrder(orderId) {
  const forSession = state.current;
  const status = $("order-status");
  setText(status, tr("con.order.looking"), "");
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
    let message = tr("con.order.failed", { message: err.message });
    if (err.status === 404 && err.code === "not_found") message = tr("con.order.not_found", { id: orderId });
    else if (err.status === 404 || err.status === 501) message = tr("con.order.not_set_up");
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
      type: "button", className: "ghost small", dataset: { testid: "customer-order", userContent: "" },
      text: `${o.order_id} · ${o.status}`, on: { click: () => { $("order-id").value = o.order_id; lookUpOrder(o.order_id); } },
    })) : [h("p", { className: "muted", text: tr("con.order.none") })]));
  } catch {
    if (state.current === s.session_id) box.replaceChildren(h("p", { className: "muted", text: DASH }));
  }
}

subscribe("tools", renderOrderPanel);
subscribe("thread", prefillOrder);

$("order-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("order-id").value.trim();
  if (id) lookUpOrder(id);
});
// The composer's "Order card": the order looked up for this chat, or the Order tab to look one up.
$("send-order").addEventListener("click", () => {
  const order = state.current ? state.orders.get(state.current) : null;
  if (order) { sendOrder(order); return; }
  showTab("order");
  $("order-id").focus();
  setText($("order-status"), "Look up an order first, then send it as a card.", "");
});
