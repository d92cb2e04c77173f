// The staff pages' sign-in, shared by the agent console, the ticket console, the dashboard and robot
// management: the <cs-sign-in> element (the sign-in form and the "not allowed" view) and the page gate
// that shows it, or the page's app once a user with one of its roles is signed in.
//
//   <cs-sign-in heading="dash.title" hint="signin.hint.dashboard" console-link></cs-sign-in>
//
// heading: the catalogue key of the form's title; hint: that of a line under the form (optional); console-link: the "not allowed"
// view offers the agent console. The element renders into the page itself (no shadow root), so the page's
// style sheet applies and its fields keep their ids (#login, #login-form, #user, #pass, #login-error,
// #denied, #denied-text, #denied-signout).

import { currentSignIn, onSignInChange, signIn, signOut, takeNotice } from "./auth.js";
import { $, h } from "./ui.js";
import { t } from "./i18n.js";

/** Signing out from anywhere on a page: forget the sign-in (in every tab) and start the page afresh. */
function leave() {
  signOut();
  location.reload();
}

export class SignInElement extends HTMLElement {
  connectedCallback() {
    if (this.childElementCount) return; // rendered once, even if moved
    const hint = this.getAttribute("hint");
    this.form = h("form", { id: "login-form", className: "login-card", on: { submit: (e) => this.submit(e) } },
      h("div", { className: "login-lang" }, h("cs-lang-switch")),
      h("h1", { text: t(this.getAttribute("heading") || "signin.title") }),
      h("label", {}, h("span", { text: t("signin.username") }), " ", h("input", { id: "user", dataset: { testid: "login-user" },
        attrs: { autocomplete: "username", required: true } })),
      h("label", {}, h("span", { text: t("signin.password") }), " ", h("input", { id: "pass", type: "password", dataset: { testid: "login-pass" },
        attrs: { autocomplete: "current-password", required: true } })),
      h("button", { type: "submit", text: t("signin.submit"), dataset: { testid: "login-submit" } }),
      h("p", { className: "error", id: "login-error", dataset: { testid: "login-error" }, attrs: { role: "alert" } }),
      hint ? h("p", { className: "hint", text: t(hint) }) : null);
    this.error = this.form.querySelector("#login-error");
    this.login = h("section", { className: "login", id: "login", hidden: true }, this.form);
    this.deniedText = h("p", { id: "denied-text" });
    this.denied = h("section", { className: "login", id: "denied", hidden: true },
      h("div", { className: "login-card", dataset: { testid: "denied" } },
        h("h1", { text: t("signin.not_allowed") }),
        this.deniedText,
        h("button", { type: "button", id: "denied-signout", text: t("signin.as_someone_else"),
          dataset: { testid: "denied-signout" }, on: { click: leave } }),
        this.hasAttribute("console-link") ? h("a", { className: "hint", href: "/console", text: t("signin.to_console") }) : null));
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
  { href: "/console", label: "nav.console", roles: ["agent", "supervisor", "admin"] },
  { href: "/tickets", label: "nav.tickets", roles: ["agent", "supervisor", "admin"] },
  { href: "/dashboard", label: "nav.dashboard", roles: ["supervisor", "admin"] },
  { href: "/reports", label: "reports.nav", roles: ["agent", "supervisor", "admin"] },
  { href: "/robot", label: "nav.robot", roles: ["admin"] },
];

/** A role in the page's language ("agent" / "客服"). */
export const roleName = (role) => t(`role.${role}`);

function navigation(nav, role) {
  nav.replaceChildren(...PAGES.filter((page) => page.roles.includes(role)).map((page) => h("a", {
    href: page.href, text: t(page.label), attrs: { "aria-current": location.pathname === page.href ? "page" : null } })));
}

/**
 * Gate the page: its <cs-sign-in> until a user with one of `roles` is signed in, then its app (#app, with
 * #me, #nav and #signout in its header) and `onStart(auth)`, once.
 */
export function gate({ roles, deniedText, onStart }) {
  const signInView = document.querySelector("cs-sign-in");
  let started = null; // the user the app started for

  function enter() {
    const auth = currentSignIn();
    if (!auth) {
      $("app").hidden = true;
      signInView.askToSignIn();
      return;
    }
    if (!roles.includes(auth.user.role)) {
      $("app").hidden = true;
      signInView.deny(t("signin.denied_who", { reason: deniedText, name: auth.user.name, role: roleName(auth.user.role) }));
      return;
    }
    signInView.hide();
    $("app").hidden = false;
    $("me").replaceChildren(h("span", { text: auth.user.name, dataset: { userContent: "" } }), " · ",
      h("span", { text: roleName(auth.user.role) }));
    navigation($("nav"), auth.user.role);
    started = auth.user.id;
    onStart(auth);
  }

  // Another tab signed in, out or as someone else: a page not started yet takes the sign-in at once; a started one
  // starts afresh, unless the same user only signed in again (its calls take the new token as they go).
  onSignInChange((auth) => {
    if (started === null) enter();
    else if (!auth || auth.user.id !== started) location.reload();
  });
  signInView.addEventListener("signed-in", enter);
  $("signout").addEventListener("click", leave);
  enter();
}
