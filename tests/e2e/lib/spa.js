// Drives the built-in SPA (web/, embedded in Portcullis) as a person would: by labels, roles and
// visible text, as assistive technology sees the page.

import assert from "node:assert/strict";

import { expectText, expectVisible } from "./harness.js";

/** The page's main heading (each page has one h1). */
export const heading = (page) => page.locator("main h1");

/** The visible error alert of the page (or of the open dialog). */
export const alert = (page) => page.locator('[role="alert"]:not(:empty):visible');

/** The polite status line (good news). */
export const status = (page) => page.locator('[role="status"]:not(:empty):visible');

/** Main navigation link by its text. */
export const navLink = (page, name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });

/** Waits until the page shows the heading `text`. */
export async function expectPage(page, text) {
  await expectText(heading(page), text);
}

/** Waits until the page's alert reads exactly `text` (or matches it, for a RegExp). */
export async function expectAlert(page, text, timeout = 10_000) {
  if (typeof text === "string") return expectText(alert(page), text, timeout);
  await expectVisible(alert(page), timeout);
  const deadline = Date.now() + timeout;
  for (;;) {
    const actual = (await alert(page).first().textContent())?.trim();
    if (text.test(actual ?? "")) return actual;
    if (Date.now() > deadline) throw new Error(`expected the alert to match ${text}, it reads ${JSON.stringify(actual)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Fills and sends the login form of the page (which must show it). */
export async function logIn(page, { username, password }, { remember = false } = {}) {
  await expectPage(page, "Log in");
  const form = page.locator("form#login");
  await form.getByLabel("Username").fill(username);
  await form.getByLabel("Password", { exact: true }).fill(password);
  if (remember) await form.getByLabel("Remember me").check();
  await form.getByRole("button", { name: "Log in" }).click();
}

/** Logs in at /login and waits for the account page. */
export async function logInAt(page, base, user, options) {
  await page.goto(`${base}/login`);
  await logIn(page, user, options);
  await expectPage(page, "Who am I");
  await expectText(page.locator("#current-user"), user.username);
}

/** `GET path` from inside the page (same origin, the page's cookies): status and JSON body. */
export async function apiGet(page, path) {
  return page.evaluate(async (p) => {
    const res = await fetch(p, { headers: { Accept: "application/json" } });
    return { status: res.status, body: await res.json().catch(() => null) };
  }, path);
}

/** Fails if any page of the stack reported a Content-Security-Policy violation. */
export function assertNoCspViolations(stack) {
  const violations = stack.console.filter((line) => /Content Security Policy|Refused to (execute|load|apply)/i.test(line));
  assert.deepEqual(violations, [], "the SPA runs under the server's CSP without violations");
}
