// Resolve with a wrap-up reason: the group's reasons (GET /api/wrapup-reasons, read once) in the page's language,
// required or optional as the group says, and an optional note for staff. A group that asks nothing resolves in
// one click as before. The ended chat shows the reason it was resolved with.

import { loadGroups, loadedGroups } from "../group-names.js";
import { $, h } from "../ui.js";
import { toast } from "./alerts.js";
import { currentSession, isOpen, nameOf, notify, state } from "./store.js";
import { lang, t } from "../i18n.js";

const TEXT = {
  title: (name) => t("con.wrapup.title", { name }),
  reason: t("con.wrapup.reason"),
  required: t("con.wrapup.required"),
  optional: t("con.wrapup.optional"),
  note: t("con.wrapup.note"),
  submit: t("con.wrapup.submit"),
  cancel: t("con.cancel"),
  pick: t("con.wrapup.pick"),
  shown: (reason) => t("con.wrapup.shown", { reason }),
  failed: (message) => t("con.wrapup.failed", { message }),
};

/** The groups' reasons, read once per page (they change with the configuration, rarely), with the groups' names. */
export function loadReasons() {
  const first = !loadedGroups();
  return loadGroups().then((groups) => {
    if (first) notify("chat"); // an ended chat on screen can now name its reason
    return groups;
  });
}

/** A reason's label in the page's language (its code when the configuration no longer has it). */
export function reasonLabel(groupId, code) {
  const groups = loadedGroups();
  const g = groups && groups.get(groupId);
  const reason = g && g.reasons.find((r) => r.code === code);
  return reason ? reason.label[lang] || reason.label.en : code;
}

const dialog = h("dialog", { className: "ac-dialog", id: "resolve-dialog", dataset: { testid: "resolve-dialog" },
  attrs: { "aria-labelledby": "resolve-title" } });
document.body.appendChild(dialog);
let resolving = null; // the session the dialog is for

function open(s, policy) {
  resolving = s.session_id;
  const legend = `${TEXT.reason} (${policy.required ? TEXT.required : TEXT.optional})`;
  const options = policy.reasons.map((r, i) => h("label", { className: "ac-wrapup-option" },
    h("input", { type: "radio", name: "wrapup", value: r.code, required: policy.required && i === 0,
      dataset: { testid: "wrapup-option", code: r.code } }),
    h("span", { text: r.label[lang] || r.label.en })));
  const form = h("form", { className: "ac-form", on: { submit: (e) => { e.preventDefault(); submit(policy); } } },
    h("h2", { id: "resolve-title", text: TEXT.title(nameOf(s)) }),
    h("fieldset", { className: "ac-wrapup-reasons", dataset: { testid: "wrapup-reasons" },
      attrs: { "aria-describedby": "resolve-error" } }, h("legend", { text: legend }), ...options),
    h("div", { className: "field" }, h("label", { text: TEXT.note, attrs: { for: "wrapup-note" } }),
      h("textarea", { id: "wrapup-note", rows: 2, maxLength: 1000, dataset: { testid: "wrapup-note" } })),
    h("p", { className: "field-error", id: "resolve-error", dataset: { testid: "resolve-error" }, attrs: { role: "alert" } }),
    h("div", { className: "form-actions" },
      h("button", { type: "submit", text: TEXT.submit, dataset: { testid: "resolve-submit" } }),
      h("button", { type: "button", className: "ghost", text: TEXT.cancel, dataset: { testid: "resolve-cancel" },
        on: { click: () => dialog.close() } })));
  // The browser's own check would speak its own language: the page words it.
  form.noValidate = true;
  dialog.replaceChildren(form);
  dialog.showModal();
  const first = dialog.querySelector("input[type=radio]");
  if (first) first.focus();
}

function submit(policy) {
  const s = state.sessions.get(resolving);
  if (!isOpen(s)) { dialog.close(); return; }
  const picked = dialog.querySelector("input[name=wrapup]:checked");
  if (policy.required && !picked) {
    $("resolve-error").textContent = TEXT.pick;
    dialog.querySelector("input[type=radio]").focus();
    return;
  }
  const note = $("wrapup-note").value.trim();
  state.client.raw({ action: "resolve", session_id: s.session_id,
    ...(picked ? { wrapup: picked.value } : {}), ...(note ? { wrapup_note: note } : {}) });
  dialog.close();
}

/** The Resolve button: the dialog when the chat's group has reasons, else at once. */
export async function resolveCurrent() {
  const s = currentSession();
  if (!isOpen(s)) return;
  let policy = null;
  try {
    policy = (await loadReasons()).get(s.group_id);
  } catch (err) {
    toast(TEXT.failed(err.message), "error");
    return;
  }
  if (!policy || !policy.reasons.length) {
    state.client.raw({ action: "resolve", session_id: s.session_id });
    return;
  }
  open(s, policy);
}

/** A line under the header of an ended chat: the reason it was resolved with, and the wrap-up note. */
export function wrapupLine(s) {
  if (!s || s.status !== "closed" || !s.wrapup) return null;
  if (!loadedGroups()) loadReasons().catch(() => {});
  return h("p", { className: "ac-wrapup-shown", dataset: { testid: "chat-wrapup", code: s.wrapup } },
    h("strong", { text: TEXT.shown(reasonLabel(s.group_id, s.wrapup)) }),
    s.wrapup_note ? h("span", { className: "muted", text: ` — ${s.wrapup_note}`, dataset: { userContent: "" } }) : null);
}
