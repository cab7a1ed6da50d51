// Who is logged in, as the page knows it.

import type { Me } from "@portcullis/client";

export const session = $state<{
  /** The account from `GET /api/me`; `null` when logged out. */
  me: Me | null;
  /** Whether the first `GET /api/me` has answered. */
  ready: boolean;
  /** A message for the login page (e.g. why the user is there). */
  notice: string;
}>({ me: null, ready: false, notice: "" });

/** Whether the logged-in user has the `admin` role (the server checks it again on every call). */
export function isAdmin(): boolean {
  return session.me?.roles.includes("admin") ?? false;
}
