/**
 * `@portcullis/client`: a typed, dependency-free browser client for the Portcullis auth server.
 *
 * ```ts
 * import { createClient } from "@portcullis/client";
 * const auth = createClient({ mode: "token", onLogout: () => router.push("/login") });
 * await auth.login("alice", "correct horse");
 * const res = await auth.authFetch("/api/orders");
 * ```
 */
export { createClient, readDocumentCookie, readMetaCsrfToken } from "./client.js";
export {
  ERROR_CODES,
  PortcullisError,
  errorFromResponse,
  isPortcullisError,
  parseRetryAfter,
} from "./errors.js";
export type { FieldError, PortcullisErrorCode, PortcullisErrorInit, ProblemDetails } from "./errors.js";
export type {
  ChangePasswordResult,
  ClientOptions,
  CsrfSource,
  FetchLike,
  LoginBody,
  LoginOptions,
  LoginResult,
  Me,
  MeSession,
  Mode,
  PasswordChangeBody,
  PortcullisClient,
  ReauthBody,
  ReauthResult,
  Schemas,
  SessionInfo,
  TokenLoginBody,
} from "./types.js";
/** The whole OpenAPI document as types, to type calls the client has no method for. */
export type { components, operations, paths } from "./openapi.js";
