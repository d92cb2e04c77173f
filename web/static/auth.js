// Staff sign-in shared by the staff pages: the token from POST /api/auth/login (or Cognito) kept in
// localStorage under the agent console's key with its expiry, so one sign-in serves every staff page in every tab
// of this origin until it expires or someone signs out; a sign-out or another sign-in in one tab reaches the
// others through the `storage` event (onSignInChange). REST calls carry the bearer token. The sign-in form and
// the page gate are in sign-in.js.

import { has, lang, t } from "./i18n.js";

const KEY = "cs.agent";
const NOTICE = "cs.notice"; // a message for the sign-in form after a reload (e.g. an expired sign-in), per tab

/**
 * One field's refusal (`error.errors[i]`: `{field, message, code, limit?}`) in the page's language. The server
 * words it in English, often more precisely than a code can ("a number from 0 to 1"): an English page shows those
 * words; another language says the code's meaning, or the server's words for a rule of the field's own (`rule`).
 */
export function faultText(fault) {
  return lang !== "en" && fault.code && has(`field_error.${fault.code}`)
    ? t(`field_error.${fault.code}`, { field: fault.field, limit: fault.limit }) : fault.message;
}

/** An error answer of the REST API: `{"error": {"code", "message", "field"?, ...}}`. */
export class ApiError extends Error {
  constructor(status, error) {
    // A refusal that says the same whatever the request is told in the page's language; a body's refusal by its
    // first field's code; one that names what was wrong otherwise (a state) keeps the server's precise words.
    const code = error && error.code;
    const first = error && Array.isArray(error.errors) && error.errors[0];
    super(code && has(`error.${code}`) ? t(`error.${code}`)
      : first && first.field === error.field ? faultText(first)
        : (error && error.message) || t("common.server_answered", { status }));
    this.status = status;
    this.code = (error && error.code) || "error";
    this.field = (error && error.field) || null;
    this.details = error || {};
  }
}

/** The saved sign-in `{token, expires_at, user: {id, name, role}}`, or null (none, unreadable or expired). */
export function currentSignIn() {
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(KEY) || "null");
  } catch {
    saved = null;
  }
  if (!saved || typeof saved.token !== "string" || !saved.user) return null;
  if (typeof saved.expires_at === "number" && saved.expires_at * 1000 <= Date.now()) {
    localStorage.removeItem(KEY);
    return null;
  }
  return saved;
}

/**
 * Call `listener(signIn)` when another tab of this origin signs in, signs out or its sign-in expires (`signIn` is
 * the sign-in now in force, or null). The tab that made the change is not told: it acts on it itself.
 */
export function onSignInChange(listener) {
  window.addEventListener("storage", (e) => {
    if (e.key === KEY || e.key === null) listener(currentSignIn());
  });
}

let provider = null; // GET /api/auth/config: {provider: "local"} or {provider: "cognito", region, client_id}
let challenge = null; // {username, session}: Cognito asked this user for a new password

async function signInConfig() {
  if (!provider) {
    const res = await fetch("/api/auth/config").catch(() => null);
    provider = res && res.ok ? await res.json() : { provider: "local" };
  }
  return provider;
}

/** The claims of a JWT (not verified here: the server verifies every token it is given). */
export function claimsOf(jwt) {
  const part = jwt.split(".")[1] || "";
  const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0))));
}

const ROLE_ORDER = ["admin", "supervisor", "agent"];

async function cognito(config, target, payload) {
  let res;
  try {
    res = await fetch(`https://cognito-idp.${config.region}.amazonaws.com/`, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}` },
      body: JSON.stringify(payload),
    });
  } catch {
    throw new ApiError(0, { code: "network", message: "The sign-in service cannot be reached. Try again in a moment." });
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    throw new ApiError(401, { code: "bad_credentials", message: (body && body.message) || "Sign-in failed" });
  }
  return body;
}

// Agents sign in to the stack's Cognito user pool; an account an admin created starts with a temporary
// password, and the first sign-in sets a new one (NEW_PASSWORD_REQUIRED).
async function cognitoSignIn(config, username, password) {
  let result;
  if (challenge && challenge.username === username) {
    result = await cognito(config, "RespondToAuthChallenge", {
      ChallengeName: "NEW_PASSWORD_REQUIRED", ClientId: config.client_id, Session: challenge.session,
      ChallengeResponses: { USERNAME: username, NEW_PASSWORD: password },
    });
    challenge = null;
  } else {
    result = await cognito(config, "InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH", ClientId: config.client_id,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
  }
  if (result.ChallengeName === "NEW_PASSWORD_REQUIRED") {
    challenge = { username, session: result.Session };
    throw new ApiError(401, { code: "new_password_required", message: "Your temporary password is right. Choose "
      + "your own now: type it in the password box (12 or more characters, with upper and lower case letters and "
      + "a digit) and sign in again." });
  }
  if (!result.AuthenticationResult) throw new ApiError(401, { code: "bad_credentials", message: "Sign-in failed" });
  const token = result.AuthenticationResult.IdToken;
  const claims = claimsOf(token);
  const groups = claims["cognito:groups"] || [];
  const role = claims.role || ROLE_ORDER.find((r) => groups.includes(r)) || "agent";
  return { token, expires_at: claims.exp,
    user: { id: claims["cognito:username"] || claims.sub, name: claims.name || claims["cognito:username"], role } };
}

export async function signIn(username, password) {
  const config = await signInConfig();
  if (config.provider === "cognito") {
    const signedIn = await cognitoSignIn(config, username, password);
    localStorage.setItem(KEY, JSON.stringify(signedIn));
    return signedIn;
  }
  let res;
  try {
    res = await fetch("/api/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
  } catch {
    throw new ApiError(0, { code: "network", message: "The server cannot be reached. Try again in a moment." });
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, (body && body.error) || { message: "Sign-in failed" });
  localStorage.setItem(KEY, JSON.stringify(body));
  return body;
}

/** Sign out of every staff tab; with `token`, only if that is still the sign-in in force (a newer one made in
 *  another tab stays). */
export function signOut(token) {
  const saved = currentSignIn();
  if (token && saved && saved.token !== token) return;
  localStorage.removeItem(KEY);
}

/** The notice left for the sign-in form (then forgotten), or null. */
export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE);
  if (notice) sessionStorage.removeItem(NOTICE);
  return notice;
}

/** The sign-in `token` has expired (a 401, or `expired_token` on the WebSocket): back to the sign-in form (or on
 *  with a newer sign-in another tab made meanwhile). */
export function expired(token) {
  signOut(token);
  sessionStorage.setItem(NOTICE, t("common.expired"));
  location.reload();
}

/**
 * Call the REST API (paths as in docs/openapi.yaml, without /api). Resolves to the parsed JSON body, or
 * with `raw: true` to the Response itself; rejects with an ApiError for an error answer. A 401 ends the
 * sign-in and reloads the page onto the sign-in form.
 */
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const auth = currentSignIn();
  const headers = {};
  if (auth) headers.Authorization = `Bearer ${auth.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(`/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { code: "network", message: "The server cannot be reached. Check the connection and try again." });
  }
  if (res.status === 401) {
    expired(auth && auth.token);
    throw new ApiError(401, { code: "expired_token", message: "Your sign-in has expired." });
  }
  if (raw && res.ok) return res;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, (data && data.error) || null);
  return data;
}
