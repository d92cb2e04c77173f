// Canned replies: the replies a group's supervisors share with its agents (GET /api/canned-replies, per group and
// language) and this browser's own quick replies, found by typing "/" in the reply box: the list narrows as the
// agent types, arrows move, Enter or Tab puts the reply in the box, Escape closes it. Replies in the chat's language
// and of the chat's group come first. Supervisors and admins keep their groups' replies in a dialog here.

import { api } from "../auth.js";
import { $, h } from "../ui.js";
import { toast } from "./alerts.js";
import { quickReplies } from "./quick-replies.js";
import { currentSession, isOpen } from "./store.js";
import { localName, t } from "../i18n.js";

// Every string this module shows, in one place, from the page's catalogue.
const TEXT = {
  mine: t("con.canned.mine"),
  none: t("con.canned.none"),
  manage: t("con.canned.manage"),
  manageTitle: t("con.canned.manage"),
  group: t("con.canned.group"),
  language: t("con.canned.language"),
  languages: { "zh-CN": t("con.canned.lang.zh-CN"), en: t("con.canned.lang.en") },
  shortcut: t("con.canned.shortcut"),
  text: t("con.canned.text"),
  add: t("con.canned.add"),
  save: t("con.canned.save"),
  cancelEdit: t("con.canned.cancel_edit"),
  close: t("con.canned.close"),
  edit: t("con.canned.edit"),
  remove: t("con.canned.remove"),
  empty: t("con.canned.empty"),
  saved: t("con.canned.saved"),
  removed: t("con.canned.removed"),
  failed: (message) => t("con.canned.failed", { message }),
  loadFailed: (message) => t("con.canned.load_failed", { message }),
};
const LANGUAGES = ["zh-CN", "en"];
const MAX_SHOWN = 8;
const SLASH = /^\/(\S*)$/;

const canned = { replies: [], groups: [], loaded: false };
const pop = { open: false, items: [], index: 0 };
let editing = null; // the reply being edited in the dialog, or null for a new one

/** The same rule as the server's: a reply in "zh" serves a "zh-CN" chat and one in "zh-CN" a "zh" chat. */
function languageMatches(replyLanguage, wanted) {
  const have = replyLanguage.toLowerCase();
  const want = wanted.toLowerCase();
  return have === want || have.split("-")[0] === want || want.split("-")[0] === have;
}

/** Read the shared replies again (at start, when "/" opens the list, after a change made here). */
export async function loadCanned() {
  try {
    const found = await api("/canned-replies");
    canned.replies = found.replies;
    canned.groups = found.groups;
    canned.loaded = true;
  } catch (err) {
    if (!canned.loaded) toast(TEXT.loadFailed(err.message), "error");
    return;
  }
  $("canned-manage").hidden = !canned.groups.some((g) => g.manage);
  $("canned-manage").textContent = TEXT.manage;
  if (pop.open) showMatches();
  if ($("canned-dialog").open) renderManage();
}

// -- "/" in the reply box ----------------------------------------------------------------------------

function candidates(query) {
  const s = currentSession();
  const q = query.toLowerCase();
  const shared = canned.replies
    .filter((r) => !s || !s.language || languageMatches(r.language, s.language))
    .map((r) => ({ key: r.id, shortcut: r.shortcut, text: r.text, ownGroup: Boolean(s) && r.group_id === s.group_id,
      tag: TEXT.languages[r.language] || r.language }));
  const mine = quickReplies().map((text, i) => ({ key: `mine-${i}`, shortcut: "", text, ownGroup: false, tag: TEXT.mine }));
  const score = (c) => {
    if (!q) return 1;
    if (c.shortcut.toLowerCase().startsWith(q)) return 3;
    if (c.shortcut.toLowerCase().includes(q)) return 2;
    return c.text.toLowerCase().includes(q) ? 1 : 0;
  };
  return [...shared, ...mine]
    .map((c) => ({ c, score: score(c) }))
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score || Number(b.c.ownGroup) - Number(a.c.ownGroup))
    .slice(0, MAX_SHOWN)
    .map((x) => x.c);
}

function paintPop() {
  const list = $("canned-pop");
  if (!pop.items.length) {
    list.replaceChildren(h("li", { className: "muted", text: TEXT.none, dataset: { testid: "canned-none" } }));
    $("input").removeAttribute("aria-activedescendant");
    return;
  }
  list.replaceChildren(...pop.items.map((c, i) => h("li", {
    id: `canned-opt-${i}`, className: "ac-canned-item",
    dataset: { testid: "canned-item", key: c.key },
    attrs: { role: "option", "aria-selected": String(i === pop.index) },
    // mousedown, not click: the reply box keeps the focus.
    on: { mousedown: (e) => { e.preventDefault(); insert(i); } },
  }, c.shortcut ? h("strong", { text: `/${c.shortcut}`, dataset: { userContent: "" } }) : null,
  h("span", { text: c.text, dataset: { userContent: "" } }),
  h("span", { className: "muted", text: c.tag }))));
  $("input").setAttribute("aria-activedescendant", `canned-opt-${pop.index}`);
  const current = $(`canned-opt-${pop.index}`);
  if (current) current.scrollIntoView({ block: "nearest" });
}

function showMatches() {
  const m = SLASH.exec($("input").value);
  if (!m || !isOpen(currentSession())) { closePop(); return; }
  pop.items = candidates(m[1]);
  pop.index = Math.min(pop.index, Math.max(0, pop.items.length - 1));
  paintPop();
}

function openPop() {
  pop.open = true;
  pop.index = 0;
  $("canned-pop").hidden = false;
  showMatches();
  loadCanned(); // a reply a supervisor just added is found on the next "/"
}

function closePop() {
  if (!pop.open) return;
  pop.open = false;
  $("canned-pop").hidden = true;
  $("input").removeAttribute("aria-activedescendant");
}

function insert(i) {
  const c = pop.items[i];
  if (!c) return;
  const input = $("input");
  closePop();
  input.value = c.text;
  input.focus();
  input.setSelectionRange(c.text.length, c.text.length);
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

$("input").setAttribute("aria-controls", "canned-pop");
$("input").setAttribute("aria-autocomplete", "list");
$("canned-pop").setAttribute("aria-labelledby", "input"); // the list is named after the box it fills ("Reply")
$("input").addEventListener("input", () => {
  const slash = SLASH.test($("input").value);
  if (slash && !pop.open) openPop();
  else if (slash) showMatches();
  else closePop();
});
$("input").addEventListener("blur", closePop);
// On the form, capturing: it runs before the reply box's own Enter-sends handler (console/chat.js).
$("composer").addEventListener("keydown", (e) => {
  if (!pop.open || e.target !== $("input") || e.isComposing) return;
  const move = { ArrowDown: 1, ArrowUp: -1 }[e.key];
  if (move && pop.items.length) {
    pop.index = (pop.index + move + pop.items.length) % pop.items.length;
    paintPop();
  } else if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && pop.items.length) {
    insert(pop.index);
  } else if (e.key === "Escape") {
    closePop();
  } else {
    return;
  }
  e.preventDefault();
  e.stopPropagation();
}, true);

// -- keeping a group's replies (supervisors, admins) --------------------------------------------------

function managed() {
  return canned.groups.filter((g) => g.manage);
}

function field(label, control) {
  return h("div", { className: "field" }, h("label", { text: label, attrs: { for: control.id } }), control);
}

function renderManage() {
  const dialog = $("canned-dialog");
  const groups = managed();
  const chosen = dialog.dataset.group && groups.some((g) => g.id === dialog.dataset.group)
    ? dialog.dataset.group : (groups[0] || {}).id;
  dialog.dataset.group = chosen || "";
  const groupSelect = h("select", { id: "canned-group", dataset: { testid: "canned-group" },
    on: { change: (e) => { dialog.dataset.group = e.target.value; editing = null; renderManage(); } } },
  ...groups.map((g) => h("option", { value: g.id, text: localName(g, g.id), selected: g.id === chosen, dataset: { userContent: "" } })));
  const language = h("select", { id: "canned-language", dataset: { testid: "canned-language" } },
    ...LANGUAGES.map((l) => h("option", { value: l, text: TEXT.languages[l],
      selected: editing ? editing.language === l : l === LANGUAGES[0] })));
  const shortcut = h("input", { id: "canned-shortcut", maxLength: 32, required: true, value: editing ? editing.shortcut : "",
    dataset: { testid: "canned-shortcut" }, attrs: { pattern: "[^\\s/]+", autocomplete: "off" } });
  const text = h("textarea", { id: "canned-text", rows: 3, maxLength: 1000, required: true,
    value: editing ? editing.text : "", dataset: { testid: "canned-text" } });
  const status = h("p", { className: "status", id: "canned-status", dataset: { testid: "canned-status" },
    attrs: { role: "status" } });
  const rows = canned.replies.filter((r) => r.group_id === chosen).map((r) => h("li", { dataset: { testid: "canned-row" } },
    h("strong", { text: `/${r.shortcut}`, dataset: { userContent: "" } }), h("span", { className: "muted", text: TEXT.languages[r.language] || r.language }),
    h("span", { text: r.text, dataset: { userContent: "" } }),
    h("span", { className: "form-actions" },
      h("button", { type: "button", className: "ghost small", text: TEXT.edit, dataset: { testid: "canned-edit" },
        on: { click: () => { editing = r; renderManage(); $("canned-text").focus(); } } }),
      h("button", { type: "button", className: "ghost small", text: TEXT.remove, dataset: { testid: "canned-delete" },
        on: { click: () => removeReply(r) } }))));
  const form = h("form", { className: "ac-form", on: { submit: (e) => { e.preventDefault(); saveReply(); } } },
    field(TEXT.group, groupSelect), field(TEXT.language, language), field(TEXT.shortcut, shortcut), field(TEXT.text, text),
    status,
    h("div", { className: "form-actions" },
      h("button", { type: "submit", text: editing ? TEXT.save : TEXT.add, dataset: { testid: "canned-save" } }),
      editing ? h("button", { type: "button", className: "ghost", text: TEXT.cancelEdit,
        on: { click: () => { editing = null; renderManage(); } } }) : null,
      h("button", { type: "button", className: "ghost", text: TEXT.close, on: { click: () => dialog.close() } })));
  dialog.replaceChildren(h("h2", { id: "canned-title", text: TEXT.manageTitle }),
    h("ul", { className: "ac-canned-rows", dataset: { testid: "canned-rows" } },
      ...(rows.length ? rows : [h("li", { className: "muted", text: TEXT.empty })])), form);
}

async function saveReply() {
  const group = $("canned-dialog").dataset.group;
  const body = { language: $("canned-language").value, shortcut: $("canned-shortcut").value.trim(),
    text: $("canned-text").value.trim() };
  try {
    if (editing) {
      await api(`/canned-replies/${encodeURIComponent(group)}/${encodeURIComponent(editing.id)}`, { method: "PUT", body });
    } else {
      await api("/canned-replies", { method: "POST", body: { group_id: group, ...body } });
    }
  } catch (err) {
    $("canned-status").textContent = TEXT.failed(err.message);
    $("canned-status").dataset.kind = "error";
    return;
  }
  editing = null;
  await loadCanned();
  $("canned-status").textContent = TEXT.saved;
}

async function removeReply(r) {
  try {
    await api(`/canned-replies/${encodeURIComponent(r.group_id)}/${encodeURIComponent(r.id)}`, { method: "DELETE" });
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  if (editing && editing.id === r.id) editing = null;
  await loadCanned();
  $("canned-status").textContent = TEXT.removed;
}

$("canned-manage").addEventListener("click", () => {
  editing = null;
  renderManage();
  $("canned-dialog").showModal();
});
