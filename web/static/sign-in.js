// The staff pages' sign-in, shared by the agent console, the ticket console, the dashboard and robot
// management: the <cs-sign-in> element (the sign-in form and the "not allowed" view) and the page gate
// that shows it, or the page's app once a user with one of its roles is signed in.
//
//   <cs-sign-in heading="Supervisor dashboard" hint="Demo: carol / demo (supervisor)" console-link></cs-sign-in>
//
// heading: the form's title; hint: a line under the form (optional); console-link: the "not allowed"
// view offers the agent console. The element renders into the page itself (no shadow root), so the page's
// style sheet applies and its fields keep their ids (#login, #login-form, #user, #pass, #login-error,
// #denied, #denied-text, #denied-signout).

import { currentSignIn, signIn, signOut, takeNotice } from "./auth.js";
import { $, h } from "./ui.js";

/** Signing out from anywhere on a page: forget the sign-in and start the page afresh. */
function leave() {
  signOut();
  location.reload();
}

export class SignInElement extends HTMLElement {
  connectedCallback() {
    if (this.childElementCount) return; // rendered once, even if moved
    const hint = this.getAttribute("hint");
    this.form = h("form", { id: "login-form", className: "login-card", on: { submit: (e) => this.submit(e) } },
      h("h1", { text: this.getAttribute("heading") || "Sign in" }),
      h("label", {}, "Username ", h("input", { id: "user", dataset: { testid: "login-user" },
        attrs: { autocomplete: "username", required: true } })),
      h("label", {}, "Password ", h("input", { id: "pass", type: "password", dataset: { testid: "login-pass" },
        attrs: { autocomplete: "current-password", required: true } })),
      h("button", { type: "submit", text: "Sign in", dataset: { testid: "login-submit" } }),
      h("p", { className: "error", id: "login-error", dataset: { testid: "login-error" }, attrs: { role: "alert" } }),
      hint ? h("p", { className: "hint", text: hint }) : null);
    this.error = this.form.querySelector("#login-error");
    this.login = h("section", { className: "login", id: "login", hidden: true }, this.form);
    this.deniedText = h("p", { id: "denied-text" });
    this.denied = h("section", { className: "login", id: "denied", hidden: true },
      h("div", { className: "login-card", dataset: { testid: "denied" } },
        h("h1", { text: "Not allowed" }),
        this.deniedText,
        h("button", { type: "button", id: "denied-signout", text: "Sign in as someone else",
          dataset: { testid: "denied-signout" }, on: { click: leave } }),
        this.hasAttribute("console-link") ? h("a", { className: "hint", href: "/console", text: "Go to the agent console" }) : null));
    this.append(this.login, this.denied);
  }

  /** Show the form, with the notice left for it (e.g. an expired sign-in) if there is one. */
  askToSignIn() {
    this.denied.hidden = true;
    this.login.hidden = false;
    const notice = takeNotice();
    if (notice) this.error.textContent = notice;
    this.form.querySelector("#user").focus();
  }

  /** Show that the signed-in user may not use this page, and why. */
  deny(text) {
    this.login.hidden = true;
    this.denied.hidden = false;
    this.deniedText.textContent = text;
  }

  hide() {
    this.login.hidden = true;
    this.denied.hidden = true;
  }

  async submit(e) {
    e.preventDefault();
    const button = e.submitter || this.form.querySelector("button[type=submit]");
    const pass = this.form.querySelector("#pass");
    this.error.textContent = "";
    button.disabled = true;
    try {
      await signIn(this.form.querySelector("#user").value.trim(), pass.value);
      pass.value = "";
      this.dispatchEvent(new CustomEvent("signed-in"));
    } catch (err) {
      this.error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }
}

customElements.define("cs-sign-in", SignInElement);

const PAGES = [
  { href: "/console", label: "Agent console", roles: ["agent", "supervisor", "admin"] },
  { href: "/tickets", label: "Tickets", roles: ["agent", "supervisor", "admin"] },
  { href: "/dashboard", label: "Dashboard", roles: ["supervisor", "admin"] },
  { href: "/robot", label: "Robot", roles: ["admin"] },
];

function navigation(nav, role) {
  nav.replaceChildren(...PAGES.filter((page) => page.roles.includes(role)).map((page) => h("a", {
    href: page.href, text: page.label, attrs: { "aria-current": location.pathname === page.href ? "page" : null } })));
}

/**
 * Gate the page: its <cs-sign-in> until a user with one of `roles` is signed in, then its app (#app, with
 * #me, #nav and #signout in its header) and `onStart(auth)`, once.
 */
export function gate({ roles, deniedText, onStart }) {
  const signInView = document.querySelector("cs-sign-in");

  function enter() {
    const auth = currentSignIn();
    if (!auth) {
      $("app").hidden = true;
      signInView.askToSignIn();
      return;
    }
    if (!roles.includes(auth.user.role)) {
      $("app").hidden = true;
      signInView.deny(`${deniedText} You are signed in as ${auth.user.name} (${auth.user.role}).`);
      return;
    }
    signInView.hide();
    $("app").hidden = false;
    $("me").textContent = `${auth.user.name} · ${auth.user.role}`;
    navigation($("nav"), auth.user.role);
    onStart(auth);
  }

  signInView.addEventListener("signed-in", enter);
  $("signout").addEventListener("click", leave);
  enter();
}
