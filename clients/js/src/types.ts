/**
 * Shapes of the Portcullis HTTP API and of the client's options. The API's shapes are built on
 * the types generated from the server's OpenAPI document (`openapi.ts`, by `gen-types.sh`): a
 * field the document renames, drops or retypes stops this file from compiling. Where the SDK
 * promises more than the document says (a literal, a field the server always sends), the
 * interface narrows the generated one, which the compiler checks is still compatible.
 */

import type { components } from "./openapi.js";

/** The schemas of the OpenAPI document. */
export type Schemas = components["schemas"];

// (An interface extends a named type only, so the generated shapes get names here first.)
type MeSessionSchema = Schemas["MeSession"];
type MeSchema = Schemas["Me"];
type SessionViewSchema = Schemas["SessionView"];
type ReauthedSchema = Pick<Schemas["Reauthed"], "fresh_until">;
type PasswordChangedSchema = Schemas["PasswordChanged"];

/** How the SPA authenticates. */
export type Mode = "session" | "token";

/**
 * Where session mode gets its CSRF token:
 * - `"meta"`: the `<meta name="csrf-token" content="...">` of the page (deployment A);
 * - `"getcsrf"`: the `X-CSRFToken` response header of `GET /api/getcsrf` (deployments B and C);
 * - `"auto"`: the meta tag when the document has a non-empty one, else `GET /api/getcsrf`.
 */
export type CsrfSource = "meta" | "getcsrf" | "auto";

/** The `fetch` the client calls; any function shaped like the global one. */
export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Prefix for the API paths (`"https://auth.example.com"`); default `""` (same origin). */
  baseUrl?: string;
  /** `"session"`: the seed-compatible cookie session; `"token"`: JWT access token + refresh cookie. */
  mode: Mode;
  /** The fetch to use; default `globalThis.fetch`, looked up at call time. */
  fetch?: FetchLike;
  /** Session mode: where the CSRF token comes from; default `"auto"`. */
  csrf?: CsrfSource;
  /** `credentials` of every request the client makes; default `"include"`. */
  credentials?: RequestCredentials;
  /**
   * Called once each time the client loses the login by itself: in token mode, when a refresh
   * is refused (401, e.g. `refresh_reused`, `token_revoked`, or no refresh cookie). Not called
   * by an explicit `logout()`.
   */
  onLogout?: () => void;
  /**
   * Reads a cookie readable by the page (token mode: `csrf_refresh_token`, `csrf_access_token`).
   * Default: parse `document.cookie` when there is a document; otherwise no cookie.
   */
  readCookie?: (name: string) => string | null | undefined;
  /**
   * Session mode, `csrf: "meta"`/`"auto"`: reads the page's CSRF meta tag. Default: the
   * `content` of `document.querySelector('meta[name="csrf-token"]')` when there is a document.
   */
  readMeta?: () => string | null | undefined;
}

export interface LoginOptions {
  /** Session mode: also set the 30-day remember-me cookie. Ignored in token mode. */
  remember?: boolean;
  /** A path on this site to go to after login (`"/app"`); the server answers it back. */
  next?: string;
}

export interface LoginResult {
  /** The `next` path the server accepted, when one was given. */
  next?: string;
}

/** The session that a `/api/me` request was authenticated by. */
export interface MeSession extends MeSessionSchema {
  /** `"cookie"` for a session cookie, `"token"` for a token family. */
  kind: "cookie" | "token" | (string & {});
}

/** `GET /api/me`. */
export interface Me extends MeSchema {
  /** The account's email address; the server always sends it, `null` when there is none. */
  email: string | null;
  session: MeSession;
}

/** One entry of `GET /api/sessions`. */
export interface SessionInfo extends SessionViewSchema {
  kind: "cookie" | "token" | (string & {});
  /** The client's address; the server always sends it, `null` when unknown. */
  ip: string | null;
  /** The client's `User-Agent`; the server always sends it, `null` when there was none. */
  user_agent: string | null;
  /** Whether this is the session the request was made with. */
  current: boolean;
}

/** `POST /api/reauth` (the new access token of token mode is kept by the client itself). */
export interface ReauthResult extends ReauthedSchema {
  /** Until when the session counts as a fresh login (RFC 3339). */
  fresh_until: string;
}

/** `POST /api/password`. */
export interface ChangePasswordResult extends PasswordChangedSchema {
  password_changed: true;
  /** How many other sessions were ended. */
  revoked: number;
}

/** The bodies the client sends, as the document describes them. */
export type LoginBody = Schemas["LoginRequest"];
export type TokenLoginBody = Schemas["TokenLogin"];
export type ReauthBody = Schemas["ReauthRequest"];
export type PasswordChangeBody = Schemas["PasswordChange"];

/** The client returned by `createClient`. */
export interface PortcullisClient {
  readonly mode: Mode;
  /**
   * Logs in. Session mode: `POST /api/login` with the CSRF token (one retry on `csrf_failed`).
   * Token mode: `POST /auth/login`; the access token is kept in memory only.
   * Throws a `PortcullisError` (`invalid_credentials`, `rate_limited`, `account_locked`, ...).
   */
  login(username: string, password: string, options?: LoginOptions): Promise<LoginResult>;
  /** Session mode: `POST /api/logout`. Token mode: `POST /auth/logout`, then forgets the token. */
  logout(): Promise<void>;
  /** `GET /api/me`. */
  me(): Promise<Me>;
  /** `GET /api/getsession`: whether the browser has a live session (seed route). */
  getSession(): Promise<boolean>;
  /** Session mode: the CSRF token (cached; fetched or read once). */
  csrfToken(): Promise<string>;
  /**
   * Token mode: `POST /auth/refresh` (single-flight: joins a refresh already in flight).
   * Resolves to the new access token. On a 401 the token is forgotten and `onLogout` called.
   */
  refresh(): Promise<string>;
  /** Token mode: the in-memory access token, or `null`. */
  accessToken(): string | null;
  /**
   * `fetch` with the credentials of the mode: `Authorization: Bearer` (token mode; refreshes
   * once on a 401 and retries once) or `X-CSRFToken` on unsafe methods (session mode; refetches
   * the token once on `csrf_failed` and retries once). A string path starting with `/` is
   * prefixed with `baseUrl`. Never throws for an HTTP status: it returns the response.
   */
  authFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** `GET /api/sessions`. */
  sessions(): Promise<SessionInfo[]>;
  /** `DELETE /api/sessions/{id}`. */
  revokeSession(id: string): Promise<void>;
  /** `POST /api/sessions/revoke-others`; resolves to how many sessions were ended. */
  revokeOtherSessions(): Promise<number>;
  /** `POST /api/password` (needs a fresh login: else `fresh_login_required`). */
  changePassword(currentPassword: string, newPassword: string): Promise<ChangePasswordResult>;
  /** `POST /api/reauth`: makes the login fresh again; in token mode stores the new access token. */
  reauth(password: string): Promise<ReauthResult>;
}
