// The pages' language: zh-CN or English, their texts from the message catalogues in /static/i18n/*.json, and
// dates, times and numbers formatted by Intl for that language.
//
// The language is, in order: the page's `?lang=` parameter (a shop embedding the widget knows its page's
// language), the choice saved by the language switch, the first Chinese or English tag of the browser's
// languages, else English (as the server negotiates: any Chinese tag reads Chinese, anything else English).
//
// The catalogue is loaded by a top-level await, so a module that imports this one runs with its texts ready and
// can call t() anywhere. HTML marks its fixed texts with data-i18n="key" (the element's text) and
// data-i18n-placeholder / -aria-label / -title / -alt / -value (an attribute), translated when this module loads.
// Switching reloads the page: every text, including those built by script, is then drawn in the new language.

export const LANGUAGES = ["zh-CN", "en"];
const SAVED = "cs.lang";
const ATTRIBUTES = ["placeholder", "aria-label", "title", "alt", "value"];

/** The served language for a BCP 47 tag ("zh-CN" for any Chinese tag, "en" for any English one), else null. */
export function negotiate(tag) {
  const primary = String(tag || "").trim().replace(/_/g, "-").split("-")[0].toLowerCase();
  return primary === "zh" ? "zh-CN" : primary === "en" ? "en" : null;
}

function savedChoice() {
  try {
    return localStorage.getItem(SAVED);
  } catch {
    return null; // storage refused (a sandboxed embed): the browser's languages decide
  }
}

/** The page's language from its parameter, the saved choice and the browser's languages (see the top). */
export function chooseLanguage({ search = location.search, saved = savedChoice(), browser = navigator.languages } = {}) {
  const asked = negotiate(new URLSearchParams(search).get("lang"));
  if (asked) return asked;
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of browser && browser.length ? browser : [navigator.language]) {
    const found = negotiate(tag);
    if (found) return found;
  }
  return "en";
}

export const lang = chooseLanguage();

async function load(language) {
  const res = await fetch(`/static/i18n/${language}.json`);
  if (!res.ok) throw new Error(`catalogue ${language}: ${res.status}`);
  return res.json();
}

const catalogue = await load(lang);
document.documentElement.lang = lang;

/**
 * The text of `key` with its {name} placeholders filled from `params`. A key missing from the catalogue is a bug:
 * it is logged and the key itself is shown (which the catalogue test catches).
 */
export function t(key, params = {}) {
  const text = catalogue[key];
  if (typeof text !== "string") {
    console.error(`i18n: no text for ${key} in ${lang}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/**
 * `key`'s text as parts for h(): strings, with the nodes given in `params` (a name in <strong>, say) put in place
 * of their placeholders, so a sentence keeps its language's word order around them.
 */
export function parts(key, params = {}) {
  const nodes = Object.fromEntries(Object.entries(params).filter(([, v]) => v instanceof Node));
  const text = t(key, Object.fromEntries(Object.entries(params).filter(([, v]) => !(v instanceof Node))));
  return text.split(/(\{\w+\})/).filter(Boolean).map((piece) => {
    const name = piece.slice(1, -1);
    return piece.startsWith("{") && name in nodes ? nodes[name] : piece;
  });
}

const plurals = new Intl.PluralRules(lang);

/** A text that depends on a count: `key.one` or `key.other` (by the language's plural rules), with {count}. */
export function tn(key, count, params = {}) {
  const form = `${key}.${plurals.select(count)}`;
  return t(form in catalogue ? form : `${key}.other`, { count: number(count), ...params });
}

/** Whether the catalogue has `key` (for texts chosen by a server code, with the server's words as fallback). */
export function has(key) {
  return typeof catalogue[key] === "string";
}

/** Translate the marked elements under `root` (the document when this module loads; pages call it on templates). */
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ATTRIBUTES) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
  }
}

/** The catalogue's words for a value of data the page knows (`prefix.value`, such as "order.status.shipped"),
 *  else null: a value it does not know (a shop's own order status) is shown as it came. */
export function known(prefix, value) {
  const text = catalogue[`${prefix}.${value}`];
  return typeof text === "string" ? text : null;
}

/** A code the server sends as data (a channel, a product or FAQ category, a group id with no name at hand) in
 *  the page's words: the catalogue's `prefix.code` ("channel.mini_program" -> 小程序), else the code as it came. */
export function codeText(prefix, code) {
  if (code === null || code === undefined || code === "") return "";
  return known(prefix, code) ?? String(code);
}

/** A configured name in the page's language: the APIs send `name` (English, or the one text configured) and
 *  `names` ({en, zh-CN}, docs/protocol.md "Group names"); `fallback` when neither is there (a group id). */
export function localName(named, fallback = "") {
  if (!named) return fallback;
  return (named.names && named.names[lang]) || named.name || fallback;
}

// -- formats: one 24-hour style for every page, in the language's own order ----------------------------------

const timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const shortTimeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dateTimeFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" });
const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium" });
const numberFormat = new Intl.NumberFormat(lang);

/** The time of day, "14:03:27". */
export const time = (ms) => timeFormat.format(new Date(ms));
/** The time of day to the minute, "14:03". */
export const shortTime = (ms) => shortTimeFormat.format(new Date(ms));
/** A date and time: "Dec 7, 2026, 14:03" / "2026年12月7日 14:03". */
export const dateTime = (ms) => dateTimeFormat.format(new Date(ms));
/** A date: "Dec 7, 2026" / "2026年12月7日". */
export const date = (ms) => dateFormat.format(new Date(ms));
/** A number with the language's grouping, "1,234". */
export const number = (n) => numberFormat.format(n);

// -- the switch ------------------------------------------------------------------------------------------------

/** Save `language` as the choice, put it in the page's ?lang= if it has one, and draw the page again in it. */
export function switchTo(language) {
  try {
    localStorage.setItem(SAVED, language);
  } catch {
    // not saved: the ?lang= below still carries the choice through the reload
  }
  const url = new URL(location.href);
  if (url.searchParams.has("lang") || !savedChoice()) url.searchParams.set("lang", language);
  location.replace(url.href);
}

/** <cs-lang-switch>: 中文 / English, each named in its own language, the current one pressed. */
class LanguageSwitch extends HTMLElement {
  connectedCallback() {
    if (this.childElementCount) return;
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", t("lang.switch"));
    this.className = "lang-switch";
    for (const language of LANGUAGES) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "ghost";
      button.lang = language;
      button.textContent = t(`lang.name.${language}`);
      button.dataset.testid = `lang-${language}`;
      button.setAttribute("aria-pressed", String(language === lang));
      button.addEventListener("click", () => { if (language !== lang) switchTo(language); });
      this.append(button);
    }
  }
}

customElements.define("cs-lang-switch", LanguageSwitch);
translate();
