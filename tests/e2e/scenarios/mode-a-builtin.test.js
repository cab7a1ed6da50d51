// Deploy mode A with the built-in page: Portcullis serves the page itself (no `spa.dir`) and
// fills its CSRF meta tag; the page's script sends that token with every call.

import assert from "node:assert/strict";

import { ALICE, cookie, expectHidden, expectText, expectVisible, scenario, screenshot } from "../lib/harness.js";

scenario("mode-a-builtin: the built-in page logs in, keeps the session, logs out", async (stack) => {
  const api = await stack.portcullis();
  const browser = await stack.browser();
  const page = await stack.newPage(browser);
  const status = page.locator("#status");

  await page.goto(api.url);
  await expectText(status, "You are not logged in.");
  const token = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  assert.ok(token && token.length >= 20 && !token.includes("csrf_token()"), `meta csrf-token filled in: ${token}`);
  await screenshot(page, "builtin-login");

  // A wrong password is refused in the page's words.
  await page.fill("#username", ALICE.username);
  await page.fill("#password", "not-the-password");
  await page.click("#login button[type=submit]");
  await expectText(page.locator("#error"), "Wrong username or password.");

  await page.fill("#password", ALICE.password);
  await page.click("#login button[type=submit]");
  await expectText(status, "Logged in.");
  await expectHidden(page.locator("#login"));

  await page.click("#whoami");
  await expectText(page.locator("#me"), `Welcome, ${ALICE.username}!`);
  await screenshot(page, "builtin-whoami");

  const session = await cookie(page, api.url, "portcullis_session");
  assert.ok(session, "a portcullis_session cookie is set");
  assert.equal(session.httpOnly, true, "session cookie is HttpOnly");
  assert.equal(session.sameSite, "Strict", "mode A cookies are SameSite=Strict");

  // The session survives a reload.
  await page.reload();
  await expectText(status, "Logged in.");
  await page.click("#whoami");
  await expectText(page.locator("#me"), `Welcome, ${ALICE.username}!`);

  await page.click("#logout");
  await expectText(status, "You are not logged in.");
  await expectVisible(page.locator("#login"));

  await page.reload();
  await expectText(status, "You are not logged in.");
  assert.equal(await cookie(page, api.url, "portcullis_session"), undefined, "logout cleared the cookie");

  // The old cookie is dead on the server too: replaying it is unauthenticated.
  const replay = await fetch(`${api.url}/api/data`, { headers: { Cookie: `portcullis_session=${session.value}` } });
  assert.equal(replay.status, 401, "a logged-out session id replayed is refused");
});
