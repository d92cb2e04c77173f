// Small view helpers the console's panels share. Everything is set as text, never parsed as HTML.

import { h, DASH } from "../ui.js";
import { t } from "../i18n.js";

/** A status line's text and its kind ("ok", "error" or ""), which the style sheet colours. */
export function setText(el, message, kind = "") {
  el.textContent = message;
  el.dataset.kind = kind;
}

/** A status as a coloured pill: open, pending, solved, closed; shipped, delivered... */
/** A ticket's status as a pill, in words ("pending" / "挂起"); a status the page does not know as it came. */
export function ticketStatusPill(value) {
  const el = pill(value);
  if (TICKET_STATUSES.includes(value)) el.textContent = t(`tk.value.status.${value}`);
  return el;
}
const TICKET_STATUSES = ["open", "pending", "solved", "closed"];

export function pill(value) {
  return h("span", { className: "state-pill", text: value ? String(value).replace(/_/g, " ") : DASH,
    dataset: { value: value || "" } });
}

export function money(value, currency) {
  return typeof value === "number" ? `${value.toFixed(2)} ${currency || ""}`.trim() : DASH;
}

/** The URL if it is http(s), else null: nothing else becomes a link or an image source. */
export function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}
