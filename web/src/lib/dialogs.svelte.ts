// The two modal questions the page asks: "confirm your password" (step-up) and "are you sure?".
// The dialogs themselves are rendered once, by App.svelte.

import { isPortcullisError } from "@portcullis/client";

interface Pending<T> {
  resolve: (value: T) => void;
}

export const reauthPrompt = $state<{ open: Pending<boolean> | null }>({ open: null });

export const confirmPrompt = $state<{
  open: Pending<boolean> | null;
  title: string;
  message: string;
  action: string;
}>({ open: null, title: "", message: "", action: "" });

/** Asks for the password and calls `POST /api/reauth`; resolves `false` when cancelled. */
export function askForPassword(): Promise<boolean> {
  reauthPrompt.open?.resolve(false);
  return new Promise((resolve) => {
    reauthPrompt.open = { resolve };
  });
}

/** Asks "are you sure?"; resolves whether the user confirmed. */
export function confirmAction(title: string, message: string, action: string): Promise<boolean> {
  confirmPrompt.open?.resolve(false);
  return new Promise((resolve) => {
    Object.assign(confirmPrompt, { open: { resolve }, title, message, action });
  });
}

/** Thrown when the user cancels the password prompt: the action was not done. */
export class Cancelled extends Error {
  constructor() {
    super("cancelled");
    this.name = "Cancelled";
  }
}

/**
 * Runs an action that needs a fresh login: on 401 `fresh_login_required` asks for the password,
 * makes the session fresh (`POST /api/reauth`) and runs the action again — once.
 */
export async function withFreshLogin<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (!isPortcullisError(error, "fresh_login_required")) throw error;
    if (!(await askForPassword())) throw new Cancelled();
    return await action();
  }
}
