// Who said what: a small avatar and a name on each bubble, drawn from the sender alone, no image loaded. A person
// is the initials of their display name in a circle whose colour comes from their id, so the same person has the
// same colour on every page; the robot is a glyph. docs/protocol.md, section 2.8, says which name to show.

const COLOURS = 8; // .avatar.c0 to .c7 in app.css
const SVG = "http://www.w3.org/2000/svg";

/** The robot's face, drawn (an emoji needs a font many phones and servers lack): head, antenna, eyes, mouth. */
function robotFace() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  const parts = [["rect", { x: 4, y: 7, width: 16, height: 13, rx: 4 }], ["line", { x1: 12, y1: 3, x2: 12, y2: 7 }],
    ["circle", { cx: 12, cy: 3, r: 1.4 }], ["circle", { cx: 9, cy: 12.5, r: 1.6, class: "eye" }],
    ["circle", { cx: 15, cy: 12.5, r: 1.6, class: "eye" }], ["line", { x1: 9, y1: 16.5, x2: 15, y2: 16.5 }]];
  for (const [tag, attrs] of parts) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.appendChild(el);
  }
  return svg;
}

/** A stable small number from an id (the same on every page and every load). */
function hue(id) {
  let n = 0;
  for (const ch of String(id || "")) n = (n * 31 + ch.codePointAt(0)) >>> 0;
  return n % COLOURS;
}

/** "Alice Chen" -> "AC"; "王小明" -> "小明" (a Chinese name's given name); "" -> "?". */
export function initials(name) {
  const text = String(name || "").trim();
  if (!text) return "?";
  const chars = [...text];
  if (/\p{Script=Han}/u.test(text)) return chars.length > 2 ? chars.slice(-2).join("") : chars.join("");
  const words = text.split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]].map((w) => [...w][0]) : chars.slice(0, 1);
  return letters.join("").toUpperCase();
}

/** The avatar element: `{id, name}` of a person, or `{robot: true}`. */
export function avatar({ id, name, robot = false }) {
  const el = document.createElement("span");
  el.setAttribute("aria-hidden", "true");
  el.dataset.testid = "avatar";
  if (robot) {
    el.className = "avatar robot";
    el.appendChild(robotFace());
  } else {
    el.className = `avatar c${hue(id || name)}`;
    el.textContent = initials(name || id);
  }
  return el;
}

/** Put an avatar and a name on a rendered message (imclient.js renderMessage): `who` is `{id, name, robot, word}`,
 *  `word` when the name is the page's own word ("You", the robot's name) rather than a person's name (data). */
export function signBubble(el, who) {
  el.querySelectorAll(":scope > [data-testid=avatar], :scope > .who").forEach((old) => old.remove());
  el.classList.add("signed");
  const name = document.createElement("span");
  name.className = "who";
  name.dataset.testid = "sender-name";
  name.textContent = who.name || "";
  const face = avatar(who);
  if (!who.robot && !who.word) { name.dataset.userContent = ""; face.dataset.userContent = ""; }
  el.prepend(face, name);
  el.dataset.sender = who.name || "";
  return el;
}
