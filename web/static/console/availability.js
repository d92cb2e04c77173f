// The agent's own availability in the header: status (online, busy, offline), how many chats at once,
// and the load now. The server's `status` frame is the truth; a refused change puts the last one back.

import { $ } from "../ui.js";
import { isOpen, state, subscribe } from "./store.js";
import { t, tn } from "../i18n.js";

/** A `status` frame: the agent's status and capacity as the server has them. */
export function statusChanged(d) {
  state.status = d.status;
  state.capacity = d.capacity;
  $("status").value = d.status;
  $("capacity").value = d.capacity;
  paintLoad();
}

/** An error answer to `set_status`: show what is still in force. */
export function statusRefused() {
  $("status").value = state.status;
  $("capacity").value = state.capacity ?? "";
}

function paintLoad() {
  let active = 0;
  for (const s of state.sessions.values()) if (isOpen(s)) active += 1;
  $("load").textContent = state.capacity ? t("con.load.of", { active, capacity: state.capacity }) : tn("con.load", active);
  $("load").dataset.full = String(Boolean(state.capacity) && active >= state.capacity);
}

subscribe("list", paintLoad);

$("status").addEventListener("change", (e) => {
  const frame = { action: "set_status", status: e.target.value };
  state.client.raw(frame);
});
$("capacity").addEventListener("change", (e) => {
  const capacity = Number(e.target.value);
  if (!Number.isInteger(capacity) || capacity < 1) { e.target.value = state.capacity ?? ""; return; }
  state.client.raw({ action: "set_status", status: $("status").value, capacity });
});
