import { PortcullisError, errorFromResponse, problemCode, readJson } from "./errors.js";
import type {
  ChangePasswordResult,
  ClientOptions,
  FetchLike,
  LoginBody,
  LoginOptions,
  LoginResult,
  Me,
  PasswordChangeBody,
  PortcullisClient,
  ReauthBody,
  ReauthResult,
  SessionInfo,
  TokenLoginBody,
} from "./types.js";

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** 401 codes that a refresh cannot cure: the request itself needs something else. */
const NOT_CURED_BY_REFRESH = new Set(["fresh_login_required", "mfa_required", "invalid_credentials"]);

/** Cookie holding the double-submit value for `/auth/refresh` and `/auth/logout`. */
const CSRF_REFRESH_COOKIE = "csrf_refresh_token";
/** Cookie holding the double-submit value for the access cookie (`cookies` token location). */
const CSRF_ACCESS_COOKIE = "csrf_access_token";

type RefreshOutcome = { ok: true; token: string } | { ok: false; error: unknown; loggedOut: boolean };

interface MinimalDocument {
  cookie?: unknown;
  querySelector?: (selector: string) => { getAttribute(name: string): string | null } | null;
}

function currentDocument(): MinimalDocument | undefined {
  const doc = (globalThis as { document?: unknown }).document;
  return typeof doc === "object" && doc !== null ? (doc as MinimalDocument) : undefined;
}

/** Reads a cookie from `document.cookie` (only reads: the client never writes a cookie). */
export function readDocumentCookie(name: string): string | null {
  const doc = currentDocument();
  if (doc === undefined) return null;
  const all = doc.cookie;
  if (typeof all !== "string") return null;
  for (const pair of all.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim() === name) {
      const value = pair.slice(eq + 1).trim();
      return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    }
  }
  return null;
}

/** The `content` of the page's `<meta name="csrf-token">`, if any. */
export function readMetaCsrfToken(): string | null {
  const doc = currentDocument();
  if (doc === undefined || typeof doc.querySelector !== "function") return null;
  const meta = doc.querySelector('meta[name="csrf-token"]');
  return meta?.getAttribute("content") ?? null;
}

function methodOf(input: RequestInfo | URL, init: RequestInit): string {
  const method = init.method ?? (input instanceof Request ? input.method : undefined) ?? "GET";
  return method.toUpperCase();
}

/** Whether the request body can be sent a second time. */
function replayable(init: RequestInit): boolean {
  return !(typeof ReadableStream !== "undefined" && init.body instanceof ReadableStream);
}

/** The problem `code` of a response, read from a clone (the response stays unread). */
async function peekCode(response: Response): Promise<string | undefined> {
  try {
    return problemCode(await readJson(response.clone()));
  } catch {
    return undefined;
  }
}

async function expectJson(response: Response): Promise<unknown> {
  if (!response.ok) throw await errorFromResponse(response);
  return readJson(response);
}

function record(body: unknown): Record<string, unknown> {
  return typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
}

function malformed(what: string, status: number): PortcullisError {
  return new PortcullisError({
    type: "https://portcullis.dev/problems/unknown",
    title: "Unexpected response",
    status,
    detail: `the server's answer to ${what} was not understood`,
    code: "unknown",
  });
}

function jsonInit(method: string, body: unknown): RequestInit {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

/** Creates a Portcullis client. See the README for the two modes. */
export function createClient(options: ClientOptions): PortcullisClient {
  const mode = options.mode;
  if (mode !== "session" && mode !== "token") {
    throw new TypeError(`createClient: mode must be "session" or "token", not ${String(mode)}`);
  }
  const baseUrl = (options.baseUrl ?? "").replace(/\/+$/, "");
  const credentials: RequestCredentials = options.credentials ?? "include";
  const csrfSource = options.csrf ?? "auto";
  const userFetch = options.fetch;
  // Looked up at call time, and called on globalThis (a detached window.fetch may throw).
  const doFetch: FetchLike = userFetch ?? ((input, init) => globalThis.fetch(input, init));
  const readCookie = (name: string): string | null => (options.readCookie ?? readDocumentCookie)(name) ?? null;
  const readMeta = (): string | null => (options.readMeta ?? readMetaCsrfToken)() || null;
  const url = (path: string): string => baseUrl + path;

  function notifyLogout(): void {
    try {
      options.onLogout?.();
    } catch (error) {
      // The callback belongs to the app; its failure must not break the request in flight.
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  // ---- session mode: the CSRF token -------------------------------------------------------

  let csrfCached: string | null = null;
  let csrfFlight: Promise<string> | null = null;
  /** Set once a meta-tag token was refused: `"auto"` then asks `/api/getcsrf`. */
  let metaRefused = false;

  async function fetchGetcsrf(): Promise<string> {
    const response = await doFetch(url("/api/getcsrf"), { method: "GET", credentials });
    if (!response.ok) throw await errorFromResponse(response);
    const token = response.headers.get("X-CSRFToken");
    if (!token) {
      throw new Error(
        "GET /api/getcsrf answered no X-CSRFToken header (cross-origin, the server must expose it: add the SPA's origin to cors.allowed_origins)",
      );
    }
    return token;
  }

  /** Gets a token (single-flight); `fresh` skips the cache and, in `"auto"`, the meta tag. */
  function obtainCsrf(fresh: boolean): Promise<string> {
    if (csrfFlight !== null) return csrfFlight;
    if (!fresh && csrfCached !== null) return Promise.resolve(csrfCached);
    const flight = (async () => {
      await Promise.resolve(); // csrfFlight is assigned before this body can settle
      let token: string | null = null;
      if (csrfSource === "meta") {
        token = readMeta();
        if (token === null) throw new Error('csrf: "meta" but the page has no <meta name="csrf-token" content>');
      } else if (csrfSource === "auto" && !fresh && !metaRefused) {
        token = readMeta();
      }
      if (fresh && csrfSource === "auto") metaRefused = true;
      token ??= await fetchGetcsrf();
      csrfCached = token;
      return token;
    })();
    csrfFlight = flight;
    const clear = (): void => {
      if (csrfFlight === flight) csrfFlight = null;
    };
    flight.then(clear, clear);
    return flight;
  }

  // ---- token mode: the in-memory access token ----------------------------------------------

  /** The access token. Lives only in this closure: never in storage or a cookie. */
  let token: string | null = null;
  /** Bumped by login, logout and reauth: a refresh started before does not overwrite them. */
  let generation = 0;
  let refreshFlight: Promise<RefreshOutcome> | null = null;
  /** How many refreshes have settled; a request knows whether one settled since it began. */
  let refreshesSettled = 0;

  function refreshHeaders(): Headers {
    const headers = new Headers();
    const csrf = readCookie(CSRF_REFRESH_COOKIE);
    if (csrf !== null) headers.set("X-CSRF-TOKEN", csrf);
    return headers;
  }

  function startRefresh(): Promise<RefreshOutcome> {
    if (refreshFlight !== null) return refreshFlight;
    const startedIn = generation;
    const flight = (async (): Promise<RefreshOutcome> => {
      await Promise.resolve(); // refreshFlight is assigned before this body can settle
      let response: Response;
      try {
        response = await doFetch(url("/auth/refresh"), { method: "POST", credentials, headers: refreshHeaders() });
      } catch (error) {
        return { ok: false, error, loggedOut: false };
      }
      if (response.ok) {
        const fresh = record(await readJson(response)).access_token;
        if (typeof fresh !== "string" || fresh === "") {
          return { ok: false, error: malformed("POST /auth/refresh", response.status), loggedOut: false };
        }
        if (generation === startedIn) token = fresh;
        return { ok: true, token: fresh };
      }
      const error = await errorFromResponse(response);
      // A refused refresh (reused, revoked, expired, absent) means the login is gone; a 429 or
      // a 5xx does not, and leaves the decision to the next request.
      const loggedOut = response.status === 401 && generation === startedIn;
      if (loggedOut) token = null;
      return { ok: false, error, loggedOut };
    })();
    refreshFlight = flight;
    void flight.then((outcome) => {
      refreshFlight = null;
      refreshesSettled += 1;
      if (!outcome.ok && outcome.loggedOut) notifyLogout();
    });
    return flight;
  }

  async function refresh(): Promise<string> {
    if (mode !== "token") throw new TypeError("refresh() is for token mode");
    const outcome = await startRefresh();
    if (!outcome.ok) throw outcome.error;
    return outcome.token;
  }

  // ---- authFetch -----------------------------------------------------------------------------

  async function authFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const target: RequestInfo | URL =
      typeof input === "string" && input.startsWith("/") && !input.startsWith("//") ? url(input) : input;
    const method = methodOf(target, init);
    const unsafe = UNSAFE_METHODS.has(method);
    // A Request's body can be read once: keep a copy for the retry.
    const spare = target instanceof Request ? target.clone() : null;
    const baseHeaders = new Headers(init.headers ?? (target instanceof Request ? target.headers : undefined));
    const canRetry = replayable(init);

    const send = (first: boolean, set: (headers: Headers) => void): Promise<Response> => {
      const headers = new Headers(baseHeaders);
      set(headers);
      const request = first ? target : (spare ?? target);
      return doFetch(request, { ...init, headers, credentials: init.credentials ?? credentials });
    };

    if (mode === "session") {
      if (!unsafe) return send(true, () => {});
      const sent = await obtainCsrf(false);
      const response = await send(true, (h) => h.set("X-CSRFToken", sent));
      if ((response.status !== 400 && response.status !== 403) || !canRetry) return response;
      if ((await peekCode(response)) !== "csrf_failed") return response;
      let fresh: string;
      try {
        // Another request may have fetched a new token meanwhile; else fetch one, once.
        fresh = csrfCached !== null && csrfCached !== sent && csrfFlight === null ? csrfCached : await obtainCsrf(true);
      } catch {
        return response;
      }
      return send(false, (h) => h.set("X-CSRFToken", fresh));
    }

    // Token mode.
    const startedIn = generation;
    const settledAtStart = refreshesSettled;
    // A token being replaced is known stale: wait for the new one instead of earning a 401.
    if (refreshFlight !== null) await refreshFlight;
    const sentToken = token;
    const withToken =
      (bearer: string | null) =>
      (h: Headers): void => {
        if (bearer !== null) {
          h.set("Authorization", `Bearer ${bearer}`);
        } else if (unsafe) {
          // No token in memory (e.g. after a reload): an access cookie may still authenticate
          // the request, and then its double-submit value is due.
          const csrf = readCookie(CSRF_ACCESS_COOKIE);
          if (csrf !== null) h.set("X-CSRF-TOKEN", csrf);
        }
      };
    const response = await send(true, withToken(sentToken));
    if (response.status !== 401 || !canRetry) return response;
    const code = await peekCode(response);
    if (code !== undefined && NOT_CURED_BY_REFRESH.has(code)) return response;

    const retry = (bearer: string): Promise<Response> => send(false, withToken(bearer));
    if (generation !== startedIn) {
      // Logged in or out since: use the new token if there is one, never refresh for the old.
      return token !== null && token !== sentToken ? retry(token) : response;
    }
    let outcome: RefreshOutcome;
    if (refreshFlight !== null) {
      outcome = await refreshFlight;
    } else if (token !== null && token !== sentToken) {
      return retry(token);
    } else if (refreshesSettled > settledAtStart) {
      // A refresh settled after this request began and did not give a new token: give up.
      return response;
    } else {
      outcome = await startRefresh();
    }
    if (!outcome.ok || token === null) return response;
    return retry(token);
  }

  // ---- high-level methods --------------------------------------------------------------------

  async function login(username: string, password: string, opts: LoginOptions = {}): Promise<LoginResult> {
    let body: unknown;
    if (mode === "session") {
      const payload: LoginBody = { username, password };
      if (opts.remember !== undefined) payload.remember = opts.remember;
      if (opts.next !== undefined) payload.next = opts.next;
      body = await expectJson(await authFetch("/api/login", jsonInit("POST", payload)));
    } else {
      const payload: TokenLoginBody = { username, password };
      if (opts.next !== undefined) payload.next = opts.next;
      // No CSRF: nothing authenticates this request. `credentials` lets the browser store the
      // refresh cookie (Path=/auth, HttpOnly).
      const response = await doFetch(url("/auth/login"), { ...jsonInit("POST", payload), credentials });
      body = await expectJson(response);
      const access = record(body).access_token;
      if (typeof access !== "string" || access === "") throw malformed("POST /auth/login", response.status);
      generation += 1;
      token = access;
    }
    const next = record(body).next;
    return typeof next === "string" ? { next } : {};
  }

  async function logout(): Promise<void> {
    if (mode === "session") {
      await expectJson(await authFetch("/api/logout", { method: "POST" }));
      return;
    }
    const bearer = token;
    // Forget first: whatever the server answers, this tab is logged out.
    token = null;
    generation += 1;
    const headers = refreshHeaders();
    if (bearer !== null) headers.set("Authorization", `Bearer ${bearer}`);
    await expectJson(await doFetch(url("/auth/logout"), { method: "POST", credentials, headers }));
  }

  async function me(): Promise<Me> {
    return (await expectJson(await authFetch("/api/me"))) as Me;
  }

  async function getSession(): Promise<boolean> {
    return record(await expectJson(await authFetch("/api/getsession"))).login === true;
  }

  async function csrfToken(): Promise<string> {
    if (mode !== "session") throw new TypeError("csrfToken() is for session mode");
    return obtainCsrf(false);
  }

  async function sessions(): Promise<SessionInfo[]> {
    const list = record(await expectJson(await authFetch("/api/sessions"))).sessions;
    return Array.isArray(list) ? (list as SessionInfo[]) : [];
  }

  async function revokeSession(id: string): Promise<void> {
    await expectJson(await authFetch(`/api/sessions/${encodeURIComponent(id)}`, { method: "DELETE" }));
  }

  async function revokeOtherSessions(): Promise<number> {
    const body = record(await expectJson(await authFetch("/api/sessions/revoke-others", { method: "POST" })));
    return typeof body.revoked === "number" ? body.revoked : 0;
  }

  async function changePassword(currentPassword: string, newPassword: string): Promise<ChangePasswordResult> {
    const payload: PasswordChangeBody = { current_password: currentPassword, new_password: newPassword };
    const init = jsonInit("POST", payload);
    return (await expectJson(await authFetch("/api/password", init))) as ChangePasswordResult;
  }

  async function reauth(password: string): Promise<ReauthResult> {
    const payload: ReauthBody = { password };
    const body = record(await expectJson(await authFetch("/api/reauth", jsonInit("POST", payload))));
    if (mode === "token" && typeof body.access_token === "string" && body.access_token !== "") {
      // The fresh token replaces the old one; a refresh in flight must not overwrite it.
      generation += 1;
      token = body.access_token;
    }
    return { fresh_until: typeof body.fresh_until === "string" ? body.fresh_until : "" };
  }

  return {
    mode,
    login,
    logout,
    me,
    getSession,
    csrfToken,
    refresh,
    accessToken: () => token,
    authFetch,
    sessions,
    revokeSession,
    revokeOtherSessions,
    changePassword,
    reauth,
  };
}
