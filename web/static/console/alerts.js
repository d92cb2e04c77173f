// Telling the agent: a toast for what just happened, a short sound and a count in the tab title for
// something new (a chat or a visitor's message) until it is seen.

import { $ } from "../ui.js";
import { TITLE, state, subscribe } from "./store.js";

const SOUND_KEY = "cs.sound";

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
  $("sound").textContent = soundOn ? "Sound on" : "Sound off";
  $("sound").setAttribute("aria-pressed", String(soundOn));
}

/** Something new for the agent: a sound, and a count in the tab title until it is seen. */
export function alertAgent() {
  beep();
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
