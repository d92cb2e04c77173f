// Telling the agent: a toast for what just happened, a short sound and a count in the tab title for
// something new (a chat or a visitor's message) until it is seen, a desktop notification for it while the tab is
// hidden (once the agent has turned them on), and a banner while the connection is down.

import "../connection-banner.js";
import { t } from "../i18n.js";
import { $ } from "../ui.js";
import { TITLE, nameOf, preview, select, state, subscribe } from "./store.js";

const SOUND_KEY = "cs.sound";
const NOTIFY_KEY = "cs.notify"; // "on" or "off": the agent's answer to the prompt or the header button

export function toast(message, kind = "ok") {
  const el = $("toast");
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 9000 : 5000);
}

let audio = null;
let soundOn = localStorage.getItem(SOUND_KEY) !== "off";

function unlockAudio() {
  // Browsers start audio only after a user gesture: the sign-in click or any click on the page.
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch {
    audio = null;
  }
}

function beep() {
  if (!soundOn || !audio) return;
  try {
    const t = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.setValueAtTime(880, t);
    osc.frequency.setValueAtTime(1175, t + 0.09);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.12, t + 0.015);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.24);
  } catch {
    // No sound is no reason to lose a message.
  }
}

export function paintSound() {
  $("sound").textContent = t(soundOn ? "con.sound_on" : "con.sound_off");
  $("sound").setAttribute("aria-pressed", String(soundOn));
}

/**
 * Something new for the agent: a sound, a count in the tab title until it is seen, and a desktop notification
 * while the tab is hidden. `about`: `{sessionId}` for a new chat, `{sessionId, message}` for a visitor's message,
 * `{sessionId, note}` for a note that mentions this user.
 */
export function alertAgent(about = null) {
  beep();
  if (about) notifyDesktop(about);
  const app = $("app");
  app.dataset.alerts = String(Number(app.dataset.alerts || 0) + 1);
  paintTitle();
}

function paintTitle() {
  let n = 0;
  for (const id of state.sessions.keys()) n += state.unread.get(id) || (state.fresh.has(id) ? 1 : 0);
  document.title = n ? `(${n}) ● ${TITLE}` : TITLE;
}

subscribe("list", paintTitle);

document.addEventListener("pointerdown", unlockAudio);
document.addEventListener("keydown", unlockAudio);

$("sound").addEventListener("click", () => {
  soundOn = !soundOn;
  localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
  paintSound();
  if (soundOn) { unlockAudio(); beep(); }
});

// -- desktop notifications ----------------------------------------------------------------------------------
// Asked for from the console's own prompt, never on page load (a browser's question out of nowhere gets "block"
// and cannot be asked again), and remembered: the prompt is answered once, the header button changes it later.

const canNotify = typeof Notification === "function";
let notifyChoice = localStorage.getItem(NOTIFY_KEY); // null until the agent answers

function notifyOn() {
  return canNotify && notifyChoice === "on" && Notification.permission === "granted";
}

function paintNotify() {
  const blocked = canNotify && Notification.permission === "denied";
  $("notify-ask").hidden = !canNotify || notifyChoice !== null || blocked;
  const button = $("notify");
  button.hidden = !canNotify || (notifyChoice === null && !blocked);
  button.disabled = blocked;
  button.textContent = t(blocked ? "alerts.desktop_blocked" : notifyOn() ? "alerts.desktop_on" : "alerts.desktop_off");
  button.setAttribute("aria-pressed", String(notifyOn()));
}

function remember(choice) {
  notifyChoice = choice;
  localStorage.setItem(NOTIFY_KEY, choice);
  paintNotify();
}

async function turnOn() {
  let permission = Notification.permission;
  if (permission === "default") permission = await Notification.requestPermission();
  remember(permission === "granted" ? "on" : "off");
}

function notifyDesktop({ sessionId, message, note }) {
  if (!document.hidden || !notifyOn()) return;
  const s = state.sessions.get(sessionId);
  const name = nameOf(s);
  if (note) {
    show(t("alerts.mentioned_by", { name: note.sender_name || note.sender_id }), preview(note), sessionId);
    return;
  }
  const title = message ? t("alerts.message_from", { name }) : t("alerts.new_chat", { name });
  const body = message ? preview(message)
    : s && s.transfer ? t("alerts.transferred_by", { from: s.transfer.from }) : t("alerts.new_chat_body");
  show(title, body, sessionId);
}

function show(title, body, sessionId) {
  try {
    // One notification per chat (its tag): a newer line replaces the one before instead of piling up.
    const shown = new Notification(title, { body, tag: sessionId });
    shown.onclick = () => {
      window.focus();
      if (state.sessions.has(sessionId)) select(sessionId);
      shown.close();
    };
  } catch {
    // A browser that shows them only from a service worker: the sound and the title's count still tell.
  }
}

$("notify-yes").addEventListener("click", turnOn);
$("notify-no").addEventListener("click", () => remember("off"));
$("notify").addEventListener("click", () => (notifyOn() ? remember("off") : turnOn()));
paintNotify();

/** The connection's state from ImClient: the banner shows while it is down and reconnecting. */
export function showConnection(value) {
  document.querySelector("cs-connection-banner").show(value);
}
