// The REST API with the page's bearer token, the sign-in form, and small page helpers.
import { t, applyStatic, langButton } from "./i18n.js";
import { clock, setTimeZone } from "./format.js";

// Requests that change something carry an Idempotency-Key: the service applies a request sent
// again under the same key (a retry after the answer was lost) once.
const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** A new random key (RFC 4122 version 4); crypto.randomUUID exists only in secure contexts. */
export function newKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The Idempotency-Key of one user action that may be tried again: while its request got no answer
 * (a network failure), sending the same request again reuses the key; once the service answered,
 * or the request differs (other fields, another list), the next one gets a new key.
 */
export class ActionKey {
  constructor() {
    this.pending = null; // { method, path, payload, key } of the request left without an answer
  }

  /** The key for this request. */
  keyFor(method, path, payload) {
    const p = this.pending;
    if (p && p.method === method && p.path === path && p.payload === payload) return p.key;
    this.pending = { method, path, payload, key: newKey() };
    return this.pending.key;
  }

  /** The action is over: the service answered, or the page gave it up. */
  done() {
    this.pending = null;
  }
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  /**
   * Call the service. A POST, PUT, PATCH or DELETE carries an Idempotency-Key: `action`'s (an
   * ActionKey, so that a retry of the same action sends the same key) or a new one. Nothing is
   * retried here; a network failure is an ApiError with status 0 and code "network".
   */
  async request(method, path, body, { raw = false, action = null } = {}) {
    const headers = { Authorization: `Bearer ${this.token}` };
    let payload;
    if (body instanceof Blob) {
      headers["Content-Type"] = body.type || "application/octet-stream";
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    if (MUTATING.has(method)) headers["Idempotency-Key"] = action ? action.keyFor(method, path, payload) : newKey();
    let response;
    try {
      response = await fetch(path, { method, headers, body: payload, cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "network", `${method} ${path}: ${e.message}`);
    }
    action?.done();
    if (raw) return response;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, data?.error || "http", data?.message || `${method} ${path}: HTTP ${response.status}`);
    }
    return data;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body = {}, options = {}) {
    return this.request("POST", path, body, options);
  }
}

/**
 * Fetch what the pages label and which optional endpoints exist (no token needed), and take the
 * county's time zone from it for every time the page shows, reads or sends (format.js).
 */
export async function loadMeta() {
  const response = await fetch("/api/consoles/meta", { cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status, "meta", `GET /api/consoles/meta: HTTP ${response.status}`);
  const meta = await response.json();
  setTimeZone(meta.timezone);
  return meta;
}

const tokenKey = (page) => `ems.token.${page}`;

/** Return the token given once in ?token= (then removed from the address bar) or remembered. */
export function takeToken(page) {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    localStorage.setItem(tokenKey(page), given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
    return given;
  }
  return localStorage.getItem(tokenKey(page));
}

export function forgetToken(page) {
  localStorage.removeItem(tokenKey(page));
}

/**
 * Sign in: check the token with /api/consoles/whoami and `accept(who)`; show the form when there is
 * no token or it is refused. Resolves with { api, who }.
 */
export function signIn(page, accept) {
  return new Promise((resolve) => {
    const form = document.getElementById("signin");
    const input = form.querySelector("input[name=token]");
    const message = form.querySelector(".signin-error");
    const langBtn = form.querySelector("[data-lang]");
    if (langBtn) langButton(langBtn);
    const attempt = async (token, fromForm) => {
      const api = new Api(token);
      try {
        const who = await api.get("/api/consoles/whoami");
        const refusal = accept(who);
        if (refusal) throw new ApiError(403, "forbidden", refusal);
        localStorage.setItem(tokenKey(page), token);
        form.classList.add("hidden");
        resolve({ api, who });
      } catch (e) {
        forgetToken(page);
        form.classList.remove("hidden");
        applyStatic(form);
        if (fromForm || e.status !== 401) {
          message.textContent = t("signin.bad", { msg: e.message });
          message.classList.remove("hidden");
        }
        input.focus();
      }
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (value) attempt(value, true);
    });
    const token = takeToken(page);
    if (token) {
      attempt(token, false);
    } else {
      form.classList.remove("hidden");
      applyStatic(form);
      input.focus();
    }
  });
}

const toastBox = () => {
  let box = document.querySelector(".toast-box");
  if (!box) {
    box = document.createElement("div");
    box.className = "toast-box";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    document.body.append(box);
  }
  return box;
};

/** Show a short message at the bottom of the page. */
export function toast(text, kind = "") {
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.textContent = text;
  toastBox().append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

/** Keep an element showing the time on the county's clock. */
export function startClock(el) {
  const tick = () => {
    el.textContent = clock();
  };
  tick();
  setInterval(tick, 1000);
}

/** Paint a connection badge: "live" (websocket), "poll" or "down". */
export function paintConnection(el, mode, pollS = 3) {
  el.className = `conn ${mode}`;
  el.textContent = t(`conn.${mode}`);
  el.title = t(`conn.title.${mode}`, { s: pollS });
}
