// The robot management console (admins): the FAQ knowledge base (browse, search, create, edit, delete),
// "try a question", the robot's settings, and import / export / reindex. REST contract: docs/openapi.yaml.

import { renderContent } from "./imclient.js";
import { api, faultText } from "./auth.js";
import { gate } from "./sign-in.js";
import { $, h, DASH, arrowTabs, dateTime, flash } from "./ui.js";
import { codeText, number, parts, t as tr, tn } from "./i18n.js";

const MAX_IMPORT_CHARS = 5_000_000;
const FAQ_ID = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
const LANGUAGES = ["en", "zh"];
const languageName = (code) => (LANGUAGES.includes(code) ? tr(`robot.lang_name.${code}`) : code);

// -- tabs ------------------------------------------------------------------------------------------

const tabs = () => [...document.querySelectorAll("#tabs [role=tab]")];

function activate(tab, { focusPanel = false } = {}) {
  for (const t of tabs()) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  history.replaceState(null, "", `#${tab.dataset.tab}`);
  if (focusPanel) $(tab.getAttribute("aria-controls")).focus();
}

function showTab(name, options) {
  const tab = tabs().find((t) => t.dataset.tab === name) || tabs()[0];
  activate(tab, options);
}

// -- shared form helpers ---------------------------------------------------------------------------

function lines(text) {
  return text.split("\n").map((s) => s.trim()).filter(Boolean);
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/**
 * Show a server validation error next to its field: `field` is e.g. "question" or "similar[2]" (the 3rd
 * item sent, i.e. the 3rd non-empty line of a one-per-line box). Every field at fault is marked at once
 * (the error's `errors`, or the one `field` of an older answer); the first is focused. Returns false when no
 * field shows any of them.
 */
function showFieldError(form, err) {
  const faults = (err.details && Array.isArray(err.details.errors) && err.details.errors.length)
    ? err.details.errors : err.field ? [{ field: err.field, message: err.message }] : [];
  let first = null;
  let shown = false;
  for (const fault of faults) {
    const input = markField(form, fault);
    if (input === false) continue;
    shown = true;
    if (!first && input) first = input;
  }
  if (first) first.focus();
  return shown;
}

/** One field's refusal under it (added to any already there); the field's input, null without one, false when no
 *  slot shows the field. */
function markField(form, fault) {
  const { field } = fault;
  const message = faultText(fault);
  // "synonyms[2][1]": the field, and its line (the group); a term's own index is not shown.
  // "greeting.zh-CN", "suggested_questions.zh-CN[0]": a language's part is shown under the field too.
  const [, base, index] = /^([a-z_]+)(?:\.[A-Za-z-]+)?(?:\[(\d+)\])?(?:\[\d+\])?$/.exec(field || "") || [];
  const slot = base && form.querySelector(`#e-${base}`);
  if (!slot) return false;
  const input = form.querySelector(`[data-field="${base}"] :is(input, textarea, select)`);
  let where = "";
  if (index !== undefined && input && input.tagName === "TEXTAREA") {
    const all = input.value.split("\n");
    let seen = -1;
    const line = all.findIndex((s) => s.trim() && ++seen === Number(index));
    if (line >= 0) where = ` ${tr("robot.line", { line: line + 1 })}`;
  }
  slot.textContent = [slot.textContent, message + where].filter(Boolean).join(" ");
  if (input) input.setAttribute("aria-invalid", "true");
  return input || null;
}

function showNotice(message) {
  $("notice").textContent = message || "";
  $("notice").hidden = !message;
}

function pill(text, kind) {
  return h("span", { className: `pill ${kind}`, text });
}

// -- the FAQ list ----------------------------------------------------------------------------------

const list = { mode: "browse", cursors: [null], page: 0, next: null, q: "", category: "", language: "" };
let listRequest = 0; // only the latest listing or search may fill the table
const categories = new Set();

function rememberCategories(faqs) {
  const before = categories.size;
  for (const f of faqs) if (f.category) categories.add(f.category);
  if (categories.size !== before) {
    $("categories").replaceChildren(...[...categories].sort().map((c) => h("option", { value: c, label: codeText("faq.category", c),
      dataset: { userContent: "" } })));
  }
}

function faqRow(faq, hit) {
  const open = h("button", { type: "button", className: "linklike", text: faq.question,
    dataset: { testid: "faq-open", userContent: "" }, on: { click: () => openFaq(faq.faq_id) } });
  const tags = faq.tags && faq.tags.length
    ? h("span", { className: "tags", dataset: { userContent: "" } }, ...faq.tags.slice(0, 4).map((t) => h("span", { className: "tag", text: t })))
    : null;
  const question = h("td", { dataset: { label: tr("robot.col.question") } }, open,
    h("div", { className: "faq-id" }, h("code", { text: faq.faq_id, dataset: { userContent: "" } }), tags));
  const category = h("td", { dataset: { label: tr("robot.category") } },
    h("span", { text: codeText("faq.category", faq.category) || DASH, dataset: { userContent: "" } }),
    faq.product_category ? h("div", { className: "sub", text: codeText("category", faq.product_category), dataset: { userContent: "" } }) : null);
  const status = h("td", { dataset: { label: tr("robot.col.status") } },
    faq.enabled ? pill(tr("robot.pill.enabled"), "online")
      : pill(tr(faq.answer ? "robot.pill.disabled" : "robot.pill.needs_answer"), "offline"));
  const row = h("tr", { dataset: { testid: "faq-row", faqId: faq.faq_id } }, question, category,
    h("td", { dataset: { label: tr("robot.language") }, text: languageName(faq.language) }), status);
  if (hit) {
    row.append(h("td", { className: "num", dataset: { label: tr("robot.col.score"), testid: "faq-score" } },
      hit.score === null ? h("span", { className: "sub", text: tr("robot.id_match") }) : scoreMeter(hit.score)));
  }
  return row;
}

function renderRows(rows, { scored }) {
  $("score-head").hidden = !scored;
  $("faq-rows").replaceChildren(...rows.map(({ faq, hit }) => faqRow(faq, scored ? hit : null)));
  $("no-faqs").hidden = rows.length > 0;
  const current = editing && rows.find(({ faq }) => faq.faq_id === editing.faq_id);
  markSelected(current ? editing.faq_id : null);
}

function markSelected(faqId) {
  for (const tr of $("faq-rows").children) tr.classList.toggle("selected", tr.dataset.faqId === faqId);
}

function filtersText() {
  const shown = [];
  if (list.category) shown.push(tr("robot.filter.category", { category: codeText("faq.category", list.category) }));
  if (list.language) shown.push(languageName(list.language));
  return shown.length ? ` · ${shown.join(", ")}` : "";
}

async function loadPage() {
  const params = new URLSearchParams({ limit: $("page-size").value });
  const cursor = list.cursors[list.page];
  if (cursor) params.set("cursor", cursor);
  if (list.category) params.set("category", list.category);
  if (list.language) params.set("language", list.language);
  $("list-caption").textContent = tr("common.loading");
  const mine = ++listRequest;
  try {
    const page = await api(`/faqs?${params}`);
    if (mine !== listRequest) return;
    list.next = page.next_cursor;
    rememberCategories(page.faqs);
    renderRows(page.faqs.map((faq) => ({ faq })), { scored: false });
    $("list-caption").textContent = tr("robot.caption.page", { page: list.page + 1, faqs: tn("robot.faqs", page.faqs.length),
      filters: filtersText() });
  } catch (err) {
    if (mine !== listRequest) return;
    $("list-caption").textContent = err.message;
  }
  $("pager").hidden = false;
  $("prev").disabled = list.page === 0;
  $("next").disabled = !list.next;
  $("page-label").textContent = tr("robot.page", { page: list.page + 1 });
}

// Searching asks the robot's own matcher (the ranking visitors get, enabled FAQs only) and, for text that
// looks like an id, reads that FAQ directly; category and language narrow the results.
async function search() {
  const q = list.q;
  const mine = ++listRequest;
  $("list-caption").textContent = tr("robot.searching");
  $("pager").hidden = true;
  const body = { query: q };
  if (list.language) body.language = list.language;
  const byId = FAQ_ID.test(q) ? api(`/faqs/${encodeURIComponent(q)}`).catch(() => null) : Promise.resolve(null);
  try {
    const [exact, ranked] = await Promise.all([byId, api("/robot/try", { method: "POST", body })]);
    const hits = ranked.hits.filter((hit) => !exact || hit.faq_id !== exact.faq_id);
    const read = await Promise.all(hits.map((hit) => api(`/faqs/${encodeURIComponent(hit.faq_id)}`).catch(() => null)));
    if (mine !== listRequest) return;
    const rows = [];
    if (exact) rows.push({ faq: exact, hit: { score: null } });
    hits.forEach((hit, i) => { if (read[i]) rows.push({ faq: read[i], hit }); });
    const shown = rows.filter(({ faq }) => (!list.category || faq.category === list.category)
      && (!list.language || faq.language === list.language));
    rememberCategories(shown.map((r) => r.faq));
    renderRows(shown, { scored: true });
    $("list-caption").textContent = tn("robot.best_matches", shown.length, { q, filters: filtersText() });
  } catch (err) {
    if (mine !== listRequest) return;
    renderRows([], { scored: true });
    $("list-caption").textContent = err.message;
  }
}

function refreshList() {
  return list.mode === "search" ? search() : loadPage();
}

function applyFilters(e) {
  e.preventDefault();
  list.q = $("q").value.trim();
  list.category = $("filter-category").value.trim();
  list.language = $("filter-language").value;
  list.mode = list.q ? "search" : "browse";
  list.cursors = [null];
  list.page = 0;
  refreshList();
}

// -- the editor ------------------------------------------------------------------------------------

let editing = null;      // the FAQ as read (with its version), or null while writing a new one
let idTouched = false;   // the admin typed an id: stop suggesting one from the question
let deleteArmed = null;  // timer while the delete button waits for its confirming click

function slug(text) {
  return (text || "").toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
}

function renderPreview() {
  const text = $("f-answer").value.trim();
  const box = $("preview");
  if (!text) {
    box.replaceChildren(h("p", { className: "empty", text: tr("robot.preview_empty") }));
    return;
  }
  const bubble = h("div", { className: "bubble", dataset: { userContent: "" } }, renderContent("robot", { text }));
  box.replaceChildren(h("div", { className: "msg theirs" }, bubble));
}

function disarmDelete() {
  clearTimeout(deleteArmed);
  deleteArmed = null;
  $("faq-delete").textContent = tr("robot.delete");
  $("faq-delete").classList.remove("armed");
}

function fillEditor(faq) {
  editing = faq;
  fromGroup = null;
  idTouched = false;
  disarmDelete();
  const form = $("faq-form");
  clearErrors(form);
  $("faq-form-error").replaceChildren();
  $("editor-title").textContent = tr(faq ? "robot.edit" : "robot.new");
  $("editor-meta").textContent = faq ? tr("robot.meta", { n: faq.version, time: dateTime(faq.updated_at) }) : "";
  $("f-faq_id").value = faq ? faq.faq_id : "";
  $("f-faq_id").readOnly = Boolean(faq);
  $("f-question").value = faq ? faq.question : "";
  $("f-similar").value = faq ? faq.similar.join("\n") : "";
  $("f-answer").value = faq ? faq.answer : "";
  $("f-category").value = faq ? faq.category || "" : "";
  $("f-product_category").value = faq ? faq.product_category || "" : "";
  $("f-tags").value = faq ? faq.tags.join(", ") : "";
  $("f-language").value = faq ? faq.language : "en";
  $("f-enabled").checked = faq ? faq.enabled : true;
  $("faq-delete").hidden = !faq;
  renderPreview();
  markSelected(faq ? faq.faq_id : null);
}

async function openFaq(faqId) {
  try {
    fillEditor(await api(`/faqs/${encodeURIComponent(faqId)}`));
    showTab("faqs");
    // Wide screens keep the editor in view beside the list; on narrow ones it sits below the list.
    const top = $("faq-form").getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight - 120) $("faq-form").scrollIntoView({ block: "start", behavior: "smooth" });
    $("f-question").focus({ preventScroll: true });
  } catch (err) {
    showNotice(err.message);
  }
}

function editorBody() {
  const text = (id) => $(id).value.trim();
  const body = {
    question: text("f-question"),
    similar: lines($("f-similar").value),
    answer: text("f-answer"),
    category: text("f-category") || null,
    product_category: text("f-product_category") || null,
    tags: $("f-tags").value.split(",").map((s) => s.trim()).filter(Boolean),
    enabled: $("f-enabled").checked,
    language: $("f-language").value,
  };
  if (editing) body.version = editing.version;
  else if (text("f-faq_id")) body.faq_id = text("f-faq_id"); // left empty: the server makes one
  return body;
}

function conflict(err) {
  const reload = h("button", { type: "button", className: "ghost small", text: tr("robot.load_current"),
    on: { click: () => openFaq(editing.faq_id) } });
  $("faq-form-error").replaceChildren(
    h("span", { text: `${tr("robot.conflict", { reason: err.message })} ` }),
    reload);
}

async function saveFaq(e) {
  e.preventDefault();
  const form = $("faq-form");
  clearErrors(form);
  $("faq-form-error").replaceChildren();
  const button = $("faq-form").querySelector("[data-testid=faq-save]");
  button.disabled = true;
  const creating = !editing;
  flash($("faq-status"), tr("robot.saving"), "", 0);
  try {
    let saved;
    if (creating && fromGroup) {
      // An FAQ made from a learning group: created and the group resolved in one call.
      saved = (await api(`/robot/learning/${fromGroup.group_id}/faq`,
        { method: "POST", body: withSimilar(fromGroup, editorBody()) })).faq;
      fromGroup = null;
    } else {
      saved = creating
        ? await api("/faqs", { method: "POST", body: editorBody() })
        : await api(`/faqs/${encodeURIComponent(editing.faq_id)}`, { method: "PUT", body: editorBody() });
    }
    fillEditor(saved);
    flash($("faq-status"), creating ? tr("robot.created", { id: saved.faq_id }) : tr("robot.saved_version", { n: saved.version }));
    rememberCategories([saved]);
    const row = $("faq-rows").querySelector(`tr[data-faq-id="${CSS.escape(saved.faq_id)}"]`);
    if (row) {
      const scored = !$("score-head").hidden;
      const score = row.querySelector("[data-testid=faq-score]");
      const fresh = faqRow(saved, scored ? { score: null } : null);
      if (score) fresh.lastElementChild.replaceWith(score);
      row.replaceWith(fresh);
    } else if (creating && list.mode === "browse" && list.page === 0) {
      $("faq-rows").prepend(faqRow(saved, null));
      $("no-faqs").hidden = true;
    }
    markSelected(saved.faq_id);
  } catch (err) {
    flash($("faq-status"), "", "", 0);
    if (err.status === 409 && err.field === "version") conflict(err);
    else if (!showFieldError(form, err)) $("faq-form-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

async function deleteFaq() {
  if (!editing) return;
  if (!deleteArmed) {
    $("faq-delete").textContent = tr("robot.confirm_delete");
    $("faq-delete").classList.add("armed");
    deleteArmed = setTimeout(disarmDelete, 5000);
    return;
  }
  disarmDelete();
  const faqId = editing.faq_id;
  try {
    await api(`/faqs/${encodeURIComponent(faqId)}`, { method: "DELETE" });
    const row = $("faq-rows").querySelector(`tr[data-faq-id="${CSS.escape(faqId)}"]`);
    if (row) row.remove();
    fillEditor(null);
    flash($("faq-status"), tr("robot.deleted", { id: faqId }));
  } catch (err) {
    $("faq-form-error").textContent = err.message;
  }
}

// -- try a question --------------------------------------------------------------------------------

function scoreMeter(score) {
  const pct = Math.round(Math.max(0, Math.min(1, score)) * 100);
  return h("span", { className: "score" },
    h("span", { className: "meter", attrs: { "aria-hidden": "true" } },
      h("span", { className: "meter-fill", style: { width: `${pct}%` } })),
    h("span", { className: "meter-text", text: score.toFixed(3) }));
}

function renderTry(result) {
  const byId = new Map(result.hits.map((hit) => [hit.faq_id, hit]));
  const questionOf = (id) => (byId.get(id) && byId.get(id).question) || id;
  const decision = $("try-decision");
  const comparison = h("div", { className: "sub", text: tr("robot.comparison", { score: result.confidence.toFixed(3),
    sign: result.decision === "answer" ? "≥" : "<", threshold: result.threshold.toFixed(2), language: languageName(result.language) }) });
  const faqText = (text) => h("span", { text, dataset: { userContent: "" } });
  decision.dataset.decision = result.decision;
  if (result.decision === "answer") {
    decision.replaceChildren(h("strong", {}, ...parts("robot.would_answer", { question: faqText(questionOf(result.answer)) })),
      comparison);
  } else {
    const offers = result.suggestions.map(questionOf);
    decision.replaceChildren(offers.length
      ? h("strong", {}, ...parts("robot.would_offer", { offers: faqText(offers.map((q) => `“${q}”`).join(", ")) }))
      : h("strong", { text: tr("robot.would_not_answer") }), comparison);
  }
  const suggested = new Set(result.suggestions);
  $("try-rows").replaceChildren(...result.hits.map((hit, i) => {
    const badge = hit.faq_id === result.answer ? pill(tr("robot.pill.answers"), "online")
      : suggested.has(hit.faq_id) ? pill(tr("robot.pill.suggested"), "busy") : null;
    const open = h("button", { type: "button", className: "linklike", text: hit.question || hit.faq_id,
      dataset: { userContent: "" }, on: { click: () => openFaq(hit.faq_id) } });
    return h("tr", { dataset: { testid: "try-hit", faqId: hit.faq_id }, className: hit.faq_id === result.answer ? "selected" : "" },
      h("td", { className: "num", dataset: { label: "#" }, text: i + 1 }),
      h("td", { dataset: { label: tr("robot.col.faq") } }, open, " ", badge,
        h("div", { className: "faq-id" }, h("code", { text: hit.faq_id, dataset: { userContent: "" } }))),
      h("td", { dataset: { label: tr("robot.col.best"), userContent: "" }, text: hit.matched }),
      h("td", { dataset: { label: tr("robot.col.score"), testid: "try-score" } }, scoreMeter(hit.score)),
      h("td", { className: "num", dataset: { label: tr("robot.col.lexical") }, text: hit.lexical.toFixed(2) }),
      h("td", { className: "num", dataset: { label: tr("robot.col.semantic") }, text: hit.semantic === null ? DASH : hit.semantic.toFixed(3) }));
  }));
  if (!result.hits.length) {
    $("try-rows").replaceChildren(h("tr", {}, h("td", { attrs: { colspan: 6 }, className: "empty", text: tr("robot.no_hits") })));
  }
  $("try-result").hidden = false;
}

async function tryQuestion(e) {
  e.preventDefault();
  $("try-error").textContent = "";
  const query = $("try-q").value.trim();
  if (!query) {
    $("try-error").textContent = tr("robot.type_question");
    $("try-q").focus();
    return;
  }
  const body = { query };
  if ($("try-language").value) body.language = $("try-language").value;
  const button = $("try-form").querySelector("button[type=submit]");
  button.disabled = true;
  $("try-result").setAttribute("aria-busy", "true");
  try {
    renderTry(await api("/robot/try", { method: "POST", body }));
  } catch (err) {
    $("try-error").textContent = err.message;
  } finally {
    button.disabled = false;
    $("try-result").removeAttribute("aria-busy");
  }
}

// -- robot settings --------------------------------------------------------------------------------

let settings = null;

// A shop text is one string for everyone or {"en", "zh-CN"}; the form has a box for each language.
function byLanguage(value, empty) {
  if (typeof value === "string" || Array.isArray(value)) return [value, empty];
  return [value.en ?? empty, value["zh-CN"] ?? empty];
}

function fillSettings(s) {
  settings = s;
  const [greeting, greetingZh] = byLanguage(s.greeting, "");
  $("s-greeting").value = greeting;
  $("s-greeting-zh").value = greetingZh;
  $("default-threshold-label").textContent = tr("robot.use_default", { value: s.default_threshold.toFixed(2) });
  $("s-threshold-default").checked = s.threshold === null;
  $("s-threshold").value = (s.threshold === null ? s.default_threshold : s.threshold).toString();
  $("s-threshold").disabled = s.threshold === null;
  $("s-misses").value = String(s.misses_before_handoff);
  $("s-suggestions").value = String(s.suggestions);
  $("s-keywords").value = s.handoff_keywords.join("\n");
  const [suggested, suggestedZh] = byLanguage(s.suggested_questions, []);
  $("s-suggested").value = suggested.join("\n");
  $("s-suggested-zh").value = suggestedZh.join("\n");
  $("s-synonyms").value = s.synonyms.map((group) => group.join(", ")).join("\n");
  $("s-orders-enabled").checked = s.orders.enabled;
  $("s-orders-prefix").value = s.orders.number_prefix;
  $("s-orders-check").value = s.orders.check || "";
  $("s-orders-attempts").value = String(s.orders.check_attempts);
}

async function loadSettings() {
  try {
    fillSettings(await api("/robot/settings"));
  } catch (err) {
    $("settings-error").textContent = err.message;
  }
}

// An empty or malformed number goes to the server as typed, so its message lands next to the field.
function numberField(id) {
  const input = $(id);
  return input.value === "" || Number.isNaN(input.valueAsNumber) ? input.value : input.valueAsNumber;
}

async function saveSettings(e) {
  e.preventDefault();
  const form = $("settings-form");
  clearErrors(form);
  $("settings-error").textContent = "";
  const greeting = $("s-greeting").value.trim();
  const greetingZh = $("s-greeting-zh").value.trim();
  const suggested = lines($("s-suggested").value);
  const suggestedZh = lines($("s-suggested-zh").value);
  const body = {
    // Only one box filled (or both the same): one text for everyone.
    greeting: greeting && greetingZh && greeting !== greetingZh ? { en: greeting, "zh-CN": greetingZh }
      : greeting || greetingZh,
    threshold: $("s-threshold-default").checked ? null : numberField("s-threshold"),
    handoff_keywords: lines($("s-keywords").value),
    misses_before_handoff: numberField("s-misses"),
    suggestions: numberField("s-suggestions"),
    suggested_questions: suggestedZh.length ? { en: suggested, "zh-CN": suggestedZh } : suggested,
    // One group a line; commas, Chinese ones too, between its terms.
    synonyms: lines($("s-synonyms").value).map((line) => line.split(/[,，、]/).map((t) => t.trim()).filter(Boolean)),
    // The saved order settings with this form's fields changed: the actions set through the API stay as they are.
    orders: { ...settings.orders, enabled: $("s-orders-enabled").checked, number_prefix: $("s-orders-prefix").value.trim(),
      check: $("s-orders-check").value || null, check_attempts: numberField("s-orders-attempts") },
  };
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  flash($("settings-status"), tr("robot.saving"), "", 0);
  try {
    fillSettings(await api("/robot/settings", { method: "PUT", body }));
    flash($("settings-status"), tr("robot.settings_saved"), "ok", 10000);
  } catch (err) {
    flash($("settings-status"), "", "", 0);
    if (!showFieldError(form, err)) $("settings-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// -- import, export, reindex -----------------------------------------------------------------------

function formatOf(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "jsonl";
  if (lower.endsWith(".csv")) return "csv";
  return null;
}


function importProblem(fileName, err) {
  const { line, source } = err.details;
  let message = err.message;
  // The server names the file it was given ("data line 2: ..."); the admin knows it by its own name.
  for (const prefix of [`${source} line ${line}: `, `${source}: `]) {
    if (source && message.startsWith(prefix)) message = message.slice(prefix.length);
  }
  const where = line ? tr("robot.import.file_line", { file: fileName, line }) : fileName;
  return h("div", { className: "import-error", dataset: { testid: "import-error", line: line ?? "" } },
    h("strong", { text: tr("robot.import.nothing", { where }) }),
    err.field ? h("span", { className: "sub", text: ` ${tr("robot.import.field", { field: err.field })}` }) : null,
    h("p", { text: message }));
}

async function importFile(e) {
  e.preventDefault();
  const out = $("import-result");
  out.replaceChildren();
  const file = $("import-file").files[0];
  if (!file) {
    out.replaceChildren(h("p", { className: "error", text: tr("robot.import.choose") }));
    return;
  }
  const format = $("import-format").value || formatOf(file.name);
  if (!format) {
    out.replaceChildren(h("p", { className: "error", text: tr("robot.import.no_format") }));
    return;
  }
  const data = await file.text();
  if (data.length > MAX_IMPORT_CHARS) {
    out.replaceChildren(h("p", { className: "error",
      text: tr("robot.import.too_big", { file: file.name, max: number(MAX_IMPORT_CHARS) }) }));
    return;
  }
  const body = { format, data };
  const namespace = $("import-namespace").value.trim();
  if (namespace) body.namespace = namespace;
  const button = $("import-form").querySelector("button[type=submit]");
  button.disabled = true;
  out.replaceChildren(h("p", { className: "muted", text: tr("robot.import.importing", { file: file.name }) }));
  try {
    const r = await api("/faqs/import", { method: "POST", body });
    const done = [tr("robot.import.written", { faqs: tn("robot.faqs", r.faqs), created: number(r.created) })];
    if (r.similar_added) done.push(tn("robot.import.similar", r.similar_added));
    if (r.placeholders) done.push(tr("robot.import.placeholders", { faqs: tn("robot.faqs", r.placeholders) }));
    if (r.skipped) done.push(tn("robot.import.skipped", r.skipped));
    out.replaceChildren(h("div", { className: "import-ok", dataset: { testid: "import-ok" } },
      h("strong", { text: tr("robot.import.done", { file: file.name }) }),
      h("p", { text: tr("robot.import.summary", { parts: done.join(tr("robot.import.separator")) }) })));
    refreshList();
  } catch (err) {
    out.replaceChildren(err.status === 400 ? importProblem(file.name, err) : h("p", { className: "error", text: err.message }));
  } finally {
    button.disabled = false;
  }
}

async function exportAs(format) {
  const status = $("export-status");
  flash(status, tr("robot.export.preparing"), "", 0);
  try {
    const res = await api(`/faqs/export?format=${format}`, { raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `faqs.${format}`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    flash(status, tr("robot.export.done", { format, size: number(Math.max(1, Math.round(blob.size / 1024))) }));
  } catch (err) {
    flash(status, err.message, "error", 0);
  }
}

// The rebuild runs as a job on the server (POST answers at once); the page polls it until it ends.
const REINDEX_POLL_MS = 1000;
const REINDEX_TEXT = {
  starting: tr("robot.reindex.starting"),
  queued: tr("robot.reindex.queued"),
  running: (done, total) => total
    ? tr("robot.reindex.running", { done: number(done), faqs: tn("robot.faqs", total), pct: Math.floor((100 * done) / total) })
    : tr("robot.reindex.reading"),
  succeeded: (indexed) => tn("robot.reindex.succeeded", indexed),
  failed: (error) => tr("robot.reindex.failed", { reason: error || tr("robot.reindex.no_reason") }),
  lost: tr("robot.reindex.lost"),
};
let reindexWatch = 0; // only the latest watch may update the status

function showReindex(job) {
  const status = $("reindex-status");
  const bar = $("reindex-progress");
  const active = job.state === "queued" || job.state === "running";
  $("reindex").disabled = active;
  bar.hidden = !active;
  bar.max = job.total || 1;
  bar.value = job.total ? job.done : 0;
  status.dataset.state = job.state;
  if (job.state === "queued") flash(status, REINDEX_TEXT.queued, "", 0);
  else if (job.state === "running") flash(status, REINDEX_TEXT.running(job.done, job.total), "", 0);
  else if (job.state === "succeeded") flash(status, REINDEX_TEXT.succeeded(job.indexed), "ok", 0);
  else flash(status, REINDEX_TEXT.failed(job.error), "error", 0);
}

async function watchReindex(job) {
  const watch = ++reindexWatch;
  showReindex(job);
  while (watch === reindexWatch && (job.state === "queued" || job.state === "running")) {
    await new Promise((resolve) => setTimeout(resolve, REINDEX_POLL_MS));
    try {
      job = await api(`/faqs/reindex/${encodeURIComponent(job.job_id)}`);
    } catch (err) {
      if (err.status === 0) continue; // a blip: ask again
      flash($("reindex-status"), err.status === 404 ? REINDEX_TEXT.lost : err.message, "error", 0);
      $("reindex").disabled = false;
      $("reindex-progress").hidden = true;
      return;
    }
    if (watch === reindexWatch) showReindex(job);
  }
}

async function reindex() {
  const status = $("reindex-status");
  $("reindex").disabled = true;
  flash(status, REINDEX_TEXT.starting, "", 0);
  try {
    await watchReindex(await api("/faqs/reindex", { method: "POST" }));
  } catch (err) {
    if (err.status === 409 && err.details.job) {
      await watchReindex(err.details.job); // someone (or another tab) started one: follow it
      return;
    }
    flash(status, err.message, "error", 0);
    $("reindex").disabled = false;
  }
}

/** On opening the page: follow a rebuild that is still running (its last outcome is not news). */
async function resumeReindex() {
  try {
    const job = await api("/faqs/reindex");
    if (job.state === "queued" || job.state === "running") await watchReindex(job);
  } catch {
    // none yet (404), or not readable now: the button works either way
  }
}

// -- wiring ----------------------------------------------------------------------------------------

// -- learning: the robot's misses, grouped -----------------------------------------------------------

let fromGroup = null; // the learning group the FAQ editor's new FAQ is made from (with the groups asking the same)

const WHY = ["declined", "not_helpful", "handoff"];

function learningDone(row, text) {
  row.querySelector("[data-testid=learning-actions]").replaceChildren(h("span", { className: "muted", text }));
}

/** An action's body for a group: the groups listed under it as asking the same are resolved with it. */
function withSimilar(group, body = {}) {
  const others = (group.similar || []).map((g) => g.group_id);
  return others.length ? { ...body, with_groups: others } : body;
}

async function learningAct(row, group, path, body) {
  try {
    await api(`/robot/learning/${group.group_id}/${path}`, { method: "POST", body: withSimilar(group, body) });
    learningDone(row, tr(`robot.learning.done.${path}`));
  } catch (err) {
    $("learning-error").textContent = err.message;
  }
}

/** The FAQs the matcher ranks first for the group's question, to add it to (the best one preselected). */
async function suggestFaqs(select, group) {
  try {
    const result = await api("/robot/try", { method: "POST", body: { query: group.text.slice(0, 500) } });
    const options = result.hits.filter((hit) => hit.question).map((hit) => h("option", {
      attrs: { value: hit.faq_id }, text: `${hit.question} (${hit.score.toFixed(2)})` }));
    if (options.length) select.replaceChildren(...options);
  } catch {
    // No suggestion: the admin can still make it an FAQ or mark it off-topic.
  }
}

function createFromGroup(group) {
  fillEditor(null);
  fromGroup = group;
  $("f-question").value = group.text;
  $("f-language").value = /[\u3400-\u9fff]/.test(group.text) ? "zh" : "en";
  showTab("faqs");
  $("f-answer").focus();
}

function learningRow(group) {
  const why = WHY.filter((k) => group[k]).map((k) => pill(`${tr(`robot.learning.why.${k}`)} ${group[k]}`, k));
  const select = h("select", { dataset: { testid: "learning-faq" }, attrs: { "aria-label": tr("robot.learning.pick") } },
    h("option", { attrs: { value: "" }, text: tr("robot.learning.no_suggestion") }));
  const row = h("tr", { dataset: { groupId: group.group_id, testid: "learning-row" } },
    h("td", {}, h("div", { text: group.text, dataset: { testid: "learning-text" } }),
      ...group.examples.slice(1).map((e) => h("div", { className: "muted small", text: e })),
      ...(group.similar || []).map((g) => h("div", { className: "muted small", dataset: { testid: "learning-similar" },
        text: tr("robot.learning.similar_group", { text: g.text, n: g.count }) }))),
    h("td", { className: "num", text: String(group.count_with_similar ?? group.count),
      dataset: { testid: "learning-count" } }),
    h("td", {}, ...why),
    h("td", { text: dateTime(group.last_at) }),
    h("td", { dataset: { testid: "learning-actions" } }));
  if (group.status === "open") {
    row.lastElementChild.append(
      select,
      h("button", { type: "button", className: "small", text: tr("robot.learning.add_similar"),
        dataset: { testid: "learning-add-similar" },
        on: { click: () => { if (select.value) learningAct(row, group, "similar", { faq_id: select.value }); } } }),
      h("button", { type: "button", className: "ghost small", text: tr("robot.learning.create_faq"),
        dataset: { testid: "learning-create-faq" }, on: { click: () => createFromGroup(group) } }),
      h("button", { type: "button", className: "ghost small", text: tr("robot.learning.off_topic"),
        dataset: { testid: "learning-off-topic" }, on: { click: () => learningAct(row, group, "off-topic") } }));
    suggestFaqs(select, group);
  }
  return row;
}

async function loadLearning(e) {
  if (e) e.preventDefault();
  $("learning-error").textContent = "";
  const query = new URLSearchParams({ order: $("learning-order").value, status: $("learning-status").value });
  try {
    const { groups } = await api(`/robot/learning?${query}`);
    $("learning-rows").replaceChildren(...groups.map(learningRow));
    $("learning-empty").hidden = groups.length > 0;
  } catch (err) {
    $("learning-error").textContent = err.message;
  }
}

function start() {
  for (const tab of tabs()) tab.addEventListener("click", () => activate(tab));
  arrowTabs($("tabs"), (tab) => activate(tab));
  showTab(location.hash.slice(1));

  $("search-form").addEventListener("submit", applyFilters);
  $("search-clear").addEventListener("click", () => {
    $("q").value = "";
    $("filter-category").value = "";
    $("filter-language").value = "";
    $("search-form").requestSubmit();
  });
  $("prev").addEventListener("click", () => { if (list.page > 0) { list.page -= 1; loadPage(); } });
  $("next").addEventListener("click", () => {
    if (!list.next) return;
    list.cursors[list.page + 1] = list.next;
    list.page += 1;
    loadPage();
  });
  $("page-size").addEventListener("change", () => { list.cursors = [null]; list.page = 0; loadPage(); });

  $("new-faq").addEventListener("click", () => { fillEditor(null); $("f-faq_id").focus(); });
  $("faq-form").addEventListener("submit", saveFaq);
  $("faq-cancel").addEventListener("click", () => fillEditor(null));
  $("faq-delete").addEventListener("click", deleteFaq);
  $("f-answer").addEventListener("input", renderPreview);
  $("f-faq_id").addEventListener("input", () => { idTouched = true; });
  $("f-question").addEventListener("change", () => {
    if (editing || idTouched || $("f-faq_id").value) return;
    const words = slug($("f-question").value);
    if (words) $("f-faq_id").value = [slug($("f-category").value), words].filter(Boolean).join("-");
  });

  $("try-form").addEventListener("submit", tryQuestion);

  $("learning-form").addEventListener("submit", loadLearning);
  for (const id of ["learning-order", "learning-status"]) $(id).addEventListener("change", () => loadLearning());
  $("tab-learning").addEventListener("click", () => loadLearning());
  if (location.hash === "#learning") loadLearning();

  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-reset").addEventListener("click", () => {
    clearErrors($("settings-form"));
    $("settings-error").textContent = "";
    if (settings) fillSettings(settings);
  });
  $("s-threshold-default").addEventListener("change", (e) => {
    $("s-threshold").disabled = e.target.checked;
    if (!e.target.checked) $("s-threshold").focus();
  });

  $("import-form").addEventListener("submit", importFile);
  $("import-file").addEventListener("change", () => $("import-result").replaceChildren());
  for (const id of ["export-jsonl", "export-csv"]) $(id).addEventListener("click", (e) => exportAs(e.currentTarget.dataset.format));
  $("reindex").addEventListener("click", reindex);
  resumeReindex();

  fillEditor(null);
  loadPage();
  loadSettings();
}

gate({ roles: ["admin"], deniedText: tr("robot.denied"), onStart: start });
