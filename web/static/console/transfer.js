// Transfer: hand the open chat to another agent or to a group's queue, with a note for whoever takes it.
// The dialog stays open until the server answers: the session leaves this page, or an error says why not.

import { $, h } from "../ui.js";
import { currentSession, isOpen, nameOf, state } from "./store.js";

function transferKind() {
  return document.querySelector("input[name=transfer-kind]:checked").value;
}

function paintTransferKind() {
  const group = transferKind() === "group";
  $("transfer-to-label").textContent = group ? "Group" : "Agent";
  $("transfer-to").placeholder = group ? "group id, e.g. vip" : "username, e.g. bob";
  const options = new Set();
  if (group) {
    for (const s of state.sessions.values()) if (s.group_id) options.add(s.group_id);
    for (const m of state.leftMessages) if (m.group_id) options.add(m.group_id);
  } else {
    for (const s of state.sessions.values()) if (s.transfer && s.transfer.from !== state.me.id) options.add(s.transfer.from);
  }
  $("transfer-options").replaceChildren(...[...options].sort().map((v) => h("option", { value: v })));
}

function openTransfer() {
  const s = currentSession();
  if (!isOpen(s)) return;
  $("transfer-form").reset();
  $("transfer-error").textContent = "";
  $("transfer-submit").disabled = false;
  $("transfer-title").textContent = `Transfer ${nameOf(s)}`;
  paintTransferKind();
  $("transfer-dialog").showModal();
  $("transfer-to").focus();
}

function submitTransfer(e) {
  e.preventDefault();
  const s = currentSession();
  if (!isOpen(s)) { $("transfer-dialog").close(); return; }
  const to = $("transfer-to").value.trim();
  if (!to) { $("transfer-error").textContent = "Say who takes the chat."; return; }
  if (transferKind() === "agent" && to === state.me.id) {
    $("transfer-error").textContent = "That is you. Pick another agent, or a group.";
    return;
  }
  const frame = { action: "transfer", session_id: s.session_id };
  frame[transferKind() === "group" ? "to_group" : "to_agent"] = to;
  const note = $("transfer-note").value.trim();
  if (note) frame.note = note;
  $("transfer-error").textContent = "";
  if (!state.client.raw(frame)) { $("transfer-error").textContent = "Not connected; try again in a moment."; return; }
  state.transferFor = s.session_id;
  $("transfer-submit").disabled = true;
}

/** The session `id` was transferred: close the dialog if it was asked for from here. */
export function transferred(id) {
  if (state.transferFor !== id) return;
  state.transferFor = null;
  $("transfer-dialog").close();
}

/** The server refused the transfer; its message says what to do instead (e.g. agent_unavailable). */
export function transferRefused(message) {
  $("transfer-error").textContent = message;
  $("transfer-submit").disabled = false;
  state.transferFor = null;
}

$("transfer-open").addEventListener("click", openTransfer);
$("transfer-cancel").addEventListener("click", () => { state.transferFor = null; $("transfer-dialog").close(); });
$("transfer-form").addEventListener("submit", submitTransfer);
document.querySelectorAll("input[name=transfer-kind]").forEach((r) => r.addEventListener("change", paintTransferKind));
