// The one Portcullis client of the page, and the calls the pages make through it.
//
// Session mode: the CSRF token comes from the `<meta name="csrf-token">` the server fills into
// index.html; on `csrf_failed` the SDK fetches a fresh token and retries once by itself, so
// nothing here retries again.

import { createClient, errorFromResponse, isPortcullisError } from "@portcullis/client";
import type { Me, SessionInfo } from "@portcullis/client";

import { session } from "./session.svelte";

export const client = createClient({ mode: "session", csrf: "auto", credentials: "same-origin" });

/** A user as the admin API shows it. */
export interface AdminUser {
  id: string;
  username: string;
  email: string | null;
  roles: string[];
  permissions: string[];
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface UserPage {
  users: AdminUser[];
  total: number;
  offset: number;
  limit: number;
}

export interface Role {
  name: string;
  description: string | null;
  permissions: string[];
}

export interface AuditEvent {
  id: number;
  at: string;
  event: string;
  user_id: string | null;
  username: string | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
  detail: unknown;
}

/** Runs a call; a 401 `unauthenticated` while the page thinks it is logged in ends the login. */
async function guarded<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (isPortcullisError(error, "unauthenticated") && session.me !== null) {
      session.me = null;
      session.notice = "Your session has ended. Log in again.";
    }
    throw error;
  }
}

/** A JSON request through the SDK's `authFetch` (CSRF header on unsafe methods). */
async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const response = await client.authFetch(path, init);
  if (!response.ok) throw await errorFromResponse(response);
  return (await response.json()) as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

export const api = {
  me: (): Promise<Me> => guarded(client.me()),
  register: (body: { username: string; password: string; email?: string }) =>
    request<{ id: string; username: string }>("POST", "/api/register", body),
  sessions: (): Promise<SessionInfo[]> => guarded(client.sessions()),
  revokeSession: (id: string) => guarded(client.revokeSession(id)),
  revokeOtherSessions: () => guarded(client.revokeOtherSessions()),
  changePassword: (current: string, next: string) => guarded(client.changePassword(current, next)),
  reauth: (password: string) => guarded(client.reauth(password)),

  users: (params: { search?: string; offset?: number; limit?: number }) =>
    guarded(request<UserPage>("GET", `/api/admin/users${query(params)}`)),
  user: (id: string) => guarded(request<AdminUser>("GET", `/api/admin/users/${encodeURIComponent(id)}`)),
  createUser: (body: { username: string; password: string; email: string | null; roles: string[] }) =>
    guarded(request<AdminUser>("POST", "/api/admin/users", body)),
  updateUser: (id: string, patch: { email?: string | null; roles?: string[]; disabled?: boolean }) =>
    guarded(request<AdminUser>("PATCH", `/api/admin/users/${encodeURIComponent(id)}`, patch)),
  deleteUser: (id: string) => guarded(request<unknown>("DELETE", `/api/admin/users/${encodeURIComponent(id)}`)),
  revokeUserSessions: (id: string) =>
    guarded(request<{ revoked: number }>("POST", `/api/admin/users/${encodeURIComponent(id)}/revoke-sessions`)),
  roles: () => guarded(request<{ roles: Role[] }>("GET", "/api/admin/roles")).then((r) => r.roles),
  createRole: (body: { name: string; description: string | null; permissions: string[] }) =>
    guarded(request<Role>("POST", "/api/admin/roles", body)),
  setPermissions: (name: string, permissions: string[]) =>
    guarded(request<Role>("PUT", `/api/admin/roles/${encodeURIComponent(name)}/permissions`, { permissions })),
  audit: (params: { user?: string; event?: string; since?: string; before?: number; limit?: number }) =>
    guarded(request<{ events: AuditEvent[] }>("GET", `/api/admin/audit${query(params)}`)).then((r) => r.events),
};
