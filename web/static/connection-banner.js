// <cs-connection-banner>: a bar across a staff page while its WebSocket is down, saying that it is reconnecting
// and what waits meanwhile, gone once the line is back. The header's small pill alone went unnoticed: an agent
// kept typing into a console that received nothing.
//
//   <cs-connection-banner data-testid="conn-banner" what="banner.console"></cs-connection-banner>
//   document.querySelector("cs-connection-banner").show(state)   // ImClient's "state" values
//
// what: the catalogue key of the sentence saying what the page misses while the line is down.

import { t } from "./i18n.js";

// ImClient's states in which the line is down and being brought back ("connecting" is the first connection: the
// pill says it; "closed" is the page's own doing; "refused" reloads onto the sign-in form).
const DOWN = new Set(["reconnecting"]);

export class ConnectionBanner extends HTMLElement {
  connectedCallback() {
    if (this.childElementCount) return;
    this.className = "conn-banner";
    this.hidden = true;
    this.setAttribute("role", "alert");
    const title = document.createElement("strong");
    title.textContent = t("banner.lost");
    const what = document.createElement("span");
    what.textContent = t(this.getAttribute("what") || "banner.console");
    this.append(title, " ", what);
  }

  /** Shown while the line is down and reconnecting, hidden in every other state. */
  show(state) {
    this.hidden = !DOWN.has(state);
    this.dataset.state = state;
  }
}

customElements.define("cs-connection-banner", ConnectionBanner);
