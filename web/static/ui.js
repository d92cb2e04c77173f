// Small DOM and formatting helpers for the staff pages. Everything that comes from users or the server is
// set as text (textContent, attribute values), never parsed as HTML. Words and formats are the page's language's
// (i18n.js).

import { t, time, dateTime as localDateTime } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/**
 * An element: `h("td", {className: "num", text: 3, dataset: {field: "waiting"}, attrs: {"aria-label": "x"}},
 * child, ...)`. Children are nodes or values (shown as text); null and undefined are skipped. `style` takes CSS
 * properties (`{width: "40%"}`), set through the DOM: the pages' Content-Security-Policy refuses style attributes.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  const { className, text, dataset, attrs, on, style, ...rest } = props;
  if (className) el.className = className;
  if (text !== undefined && text !== null) el.textContent = String(text);
  for (const [key, value] of Object.entries(dataset || {})) {
    if (value !== undefined && value !== null) el.dataset[key] = String(value);
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) el.setAttribute(key, value === true ? "" : String(value));
  }
  Object.assign(el.style, style || {});
  for (const [event, handler] of Object.entries(on || {})) el.addEventListener(event, handler);
  Object.assign(el, rest); // plain properties: type, value, checked, disabled, hidden...
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** "—" for a missing figure. */
export const DASH = "—";

/** A duration in seconds as "42 s", "3 min 05 s", "1 h 02 min" (in the page's language); "—" for null. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return DASH;
  const s = Math.max(0, Math.round(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return t("duration.s", { s });
  if (s < 3600) return t("duration.m_s", { m: Math.floor(s / 60), s: pad(s % 60) });
  return t("duration.h_m", { h: Math.floor(s / 3600), m: pad(Math.floor((s % 3600) / 60)) });
}

/** A short duration for chart axes: "30 s", "5 min", "2 h". */
export function shortDuration(seconds) {
  if (seconds < 60) return t("duration.s", { s: seconds });
  if (seconds < 3600) return t("duration.m", { m: Math.round(seconds / 60) });
  return t("duration.h", { h: Math.round(seconds / 3600) });
}

/** Epoch milliseconds as the local time of day, "14:03:27". */
export const clock = (ms) => time(ms);

/** Epoch milliseconds as a local date and time, "Dec 7, 2026, 14:03" / "2026年12月7日 14:03"; "—" for none. */
export function dateTime(ms) {
  return ms ? localDateTime(ms) : DASH;
}

/** Show `message` in a status line (role=status or alert) for a while; kind: "ok" | "error" | "". */
export function flash(el, message, kind = "ok", ms = 6000) {
  el.textContent = message;
  el.dataset.kind = kind;
  clearTimeout(el._flashTimer);
  if (ms) el._flashTimer = setTimeout(() => { el.textContent = ""; el.dataset.kind = ""; }, ms);
}

/** Keep the focus inside the page's tabs pattern: arrow keys move between role=tab buttons of `list`. */
export function arrowTabs(list, activate) {
  list.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const tabs = [...list.querySelectorAll("[role=tab]")];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    activate(next);
    e.preventDefault();
  });
}
