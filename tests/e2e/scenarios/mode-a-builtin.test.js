// Deploy mode A with the built-in SPA (web/, embedded in the binary): Portcullis serves it itself
// (no `spa.dir`) and fills its CSRF meta tag; the SPA calls the API through the JS SDK. Clicked
// through in Chromium: register, log in (wrong password, keyboard only, remember me, ?next=),
// who am I, sessions across two browsers, change the password with the step-up prompt, log out.

import assert from "node:assert/strict";

import { ALICE, cookie, expectText, expectVisible, scenario, screenshot } from "../lib/harness.js";
import {
  alert,
  apiGet,
  assertNoCspViolations,
  expectAlert,
  expectPage,
  heading,
  logIn,
  logInAt,
  navLink,
  status,
} from "../lib/spa.js";

const NEW_PASSWORD = "a-new-password-2026";

scenario("mode-a-builtin: the built-in SPA end to end", async (stack) => {
  // Generous login limits: this scenario logs alice in many times (spa-limits tests them).
  const api = await stack.portcullis({ config: { limits: { per_user_burst: 50, per_ip_burst: 100 } } });
  const browser = await stack.browser();
  const page = await stack.newPage(browser);
  const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);

  // --- The page as served: the token filled in, the strict CSP, hashed assets cached long.
  const index = await page.goto(api.url);
  assert.match(index.headers()["content-security-policy"] || "", /script-src 'self'/);
  await expectPage(page, "Log in");
  const token = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  assert.ok(token && token.length >= 20 && !token.includes("csrf_token()"), `meta csrf-token filled in: ${token}`);
  const script = await page.locator("script[src]").getAttribute("src");
  assert.match(script, /^\/portcullis\/[\w.-]+\.js$/);
  const asset = await page.request.get(`${api.url}${script}`);
  assert.equal(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
  assert.equal(await focused(), "username", "the login page starts in the username field");
  await screenshot(page, "spa-login");

  // --- A wrong password: invalid_credentials in the page's words, announced as an alert.
  await logIn(page, { username: ALICE.username, password: "not-the-password" });
  await expectAlert(page, "Wrong username or password.");
  assert.equal(await page.locator("#password").inputValue(), "", "the password is cleared");

  // --- Register: field errors from the server (422) next to their fields, a taken name (409).
  await navLink(page, "Register").click();
  await expectPage(page, "Create an account");
  assert.equal(await focused(), "register-title", "a route change moves focus to the new heading");
  const form = page.locator("#register");
  await form.getByLabel("Username").fill("dave");
  await form.getByLabel("Password", { exact: true }).fill("short");
  await form.getByLabel("Repeat the password").fill("short");
  await form.getByRole("button", { name: "Create account" }).click();
  await expectText(page.locator("#reg-password-error"), "Password must be at least 8 characters.");
  assert.equal(await page.locator("#reg-password").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#reg-password").getAttribute("aria-describedby"), "reg-password-error");
  assert.equal(await focused(), "reg-password", "focus moves to the field in error");
  await form.getByLabel("Username").fill(ALICE.username);
  await form.getByLabel("Password", { exact: true }).fill("dave-password-1");
  await form.getByLabel("Repeat the password").fill("dave-password-1");
  await form.getByRole("button", { name: "Create account" }).click();
  await expectText(page.locator("#reg-username-error"), "This username is taken.");
  await form.getByLabel("Username").fill("dave");
  await form.getByLabel("Password", { exact: true }).fill("dave-password-1");
  await form.getByLabel("Repeat the password").fill("dave-password-1");
  await form.getByRole("button", { name: "Create account" }).click();
  // Registered and logged in.
  await expectPage(page, "Who am I");
  await expectText(page.locator('#whoami [data-field="username"]'), "dave");
  await expectText(page.locator('#whoami [data-field="roles"]'), "none");
  assert.equal(await navLink(page, "Users").count(), 0, "no admin navigation without the admin role");

  // --- Log out from the header.
  await page.getByRole("button", { name: "Log out" }).click();
  await expectPage(page, "Log in");
  await expectText(status(page), "You have logged out.");

  // --- Keyboard only, with remember me and ?next=: Tab, type, Space, Enter.
  await page.goto(`${api.url}/login?next=${encodeURIComponent("/sessions")}`);
  await expectPage(page, "Log in");
  await expectVisible(page.getByText("You will continue to /sessions after logging in."));
  assert.equal(await focused(), "username");
  await page.keyboard.type(ALICE.username);
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "password");
  await page.keyboard.type(ALICE.password);
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "remember");
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(ring, "none", "keyboard focus is visible");
  await page.keyboard.press("Space");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), "Log in");
  const loginAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/login");
  await page.keyboard.press("Enter");
  const answered = await loginAnswer;
  const sent = JSON.parse(answered.request().postData());
  assert.deepEqual(
    { remember: sent.remember, next: sent.next },
    { remember: true, next: "/sessions" },
    "remember and next are sent in the login body",
  );
  assert.equal(answered.status(), 200);
  // The server checked `next`, the page followed it.
  await page.waitForURL((url) => url.pathname === "/sessions");
  await expectPage(page, "Your sessions");
  const remember = await cookie(page, api.url, "portcullis_remember");
  assert.ok(remember?.httpOnly, "remember me set its HttpOnly cookie");
  const session = await cookie(page, api.url, "portcullis_session");
  assert.equal(session?.httpOnly, true, "session cookie is HttpOnly");
  assert.equal(session?.sameSite, "Strict", "mode A cookies are SameSite=Strict");

  // --- Who am I.
  await navLink(page, "Account").click();
  await expectPage(page, "Who am I");
  await expectText(page.locator('#whoami [data-field="username"]'), ALICE.username);
  await expectText(page.locator('[data-field="remember"]'), "no");

  // --- Sessions: a second browser logs in; the first sees both and ends the second.
  const other = await stack.newPage(browser);
  await logInAt(other, api.url, ALICE);
  await navLink(page, "Sessions").click();
  await expectPage(page, "Your sessions");
  const rows = page.locator("#sessions tbody tr");
  await expectText(page.locator("#sessions tbody tr.current .current-tag"), "This browser");
  assert.equal(await rows.count(), 2, "two live sessions");
  await screenshot(page, "spa-sessions");
  await page.locator("#sessions tbody tr:not(.current)").getByRole("button", { name: /^End the session on/ }).click();
  await expectVisible(status(page));
  assert.match((await status(page).textContent()).trim(), /^Ended the session on Chrome on Linux, 127\.0\.0\.1\.$/);
  await expectText(page.locator("#sessions tbody tr").first().locator(".current-tag"), "This browser");
  assert.equal(await rows.count(), 1, "one session left");
  // The other browser is logged out: its next call is refused and the page says so.
  await navLink(other, "Sessions").click();
  await expectPage(other, "Log in");
  await expectText(status(other), "Your session has ended. Log in again.");
  await other.reload();
  await expectPage(other, "Log in");
  await other.context().close();

  // --- Change the password. Remember me brings a session back after the session cookie is
  // gone, but not a fresh one: the change needs the password again (step-up).
  await page.context().clearCookies({ name: "portcullis_session" });
  await page.goto(api.url);
  await expectPage(page, "Who am I");
  await expectText(page.locator('[data-field="remember"]'), "yes");
  assert.ok(await cookie(page, api.url, "portcullis_session"), "remember me restored a session");
  await navLink(page, "Password").click();
  await expectPage(page, "Change your password");
  await page.getByLabel("Current password", { exact: true }).fill(ALICE.password);
  await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel("Repeat the new password").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  const dialog = page.getByRole("dialog", { name: "Confirm your password" });
  await expectVisible(dialog);
  assert.equal(await focused(), "reauth-password", "the prompt takes the focus");
  await dialog.getByLabel("Password").fill("wrong-password");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expectText(dialog.locator('[role="alert"]'), "Wrong password.");
  await dialog.getByLabel("Password").fill(ALICE.password);
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expectVisible(status(page));
  // One other session ended: the one whose cookie was dropped above (it was still live).
  await expectText(status(page), "Your password was changed. 1 other session was ended.");
  assert.equal(await dialog.isVisible(), false, "the prompt closed");
  assert.equal(await alert(page).count(), 0, "no error");

  // --- Log out; the old password fails, the new one works; `next` off-site is not followed.
  const before = await cookie(page, api.url, "portcullis_session");
  await page.getByRole("button", { name: "Log out" }).click();
  await expectPage(page, "Log in");
  assert.equal(await cookie(page, api.url, "portcullis_session"), undefined, "logout cleared the cookie");
  const replay = await fetch(`${api.url}/api/data`, { headers: { Cookie: `portcullis_session=${before.value}` } });
  assert.equal(replay.status, 401, "a logged-out session id replayed is refused");

  await page.goto(`${api.url}/login?next=${encodeURIComponent("https://evil.example/phish")}`);
  await logIn(page, ALICE);
  await expectAlert(page, "Wrong username or password.");
  await logIn(page, { username: ALICE.username, password: NEW_PASSWORD });
  await expectPage(page, "Who am I");
  assert.equal(new URL(page.url()).origin, api.url, "an off-site next is never followed");
  assert.equal((await apiGet(page, "/api/me")).body.username, ALICE.username);

  // Client-side routes survive a reload (the server falls back to index.html).
  await page.goto(`${api.url}/sessions`);
  await expectPage(page, "Your sessions");
  await page.goto(`${api.url}/no/such/page`);
  await expectPage(page, "Page not found");
  assert.equal(await heading(page).count(), 1);

  assertNoCspViolations(stack);
});
