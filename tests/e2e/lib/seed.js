// Drives the seed-style page (tests/e2e/pages/seed and seed-cors) through its UI, as a person
// would: log in (after one wrong password), who am I, log out and in again with the token the
// page got at load, reload, log out, reload.

import assert from "node:assert/strict";

import { ALICE, expectHidden, expectText, expectVisible, screenshot } from "./harness.js";

const loginHeading = (page) => page.locator("h2", { hasText: "Login" });
const authenticated = (page) => page.getByText("You are authenticated!");
const isApi = (route) => (response) => new URL(response.url()).pathname === route;

/**
 * Loads `url` and waits for the page's start-up calls: `/api/getsession`, and, when logged out,
 * the token: from `/api/getcsrf` (`token: "getcsrf"`, the same-domain and cross-origin
 * variants) or, for the Jinja variant (`token: "meta"`), the `<meta name="csrf-token">` the
 * server rendered into the page. Returns the getsession answer.
 */
export async function loadSeed(page, url, { expectLoggedIn, token = "getcsrf" }) {
  const session = page.waitForResponse(isApi("/api/getsession"));
  const csrf = expectLoggedIn || token !== "getcsrf" ? null : page.waitForResponse(isApi("/api/getcsrf"));
  await page.goto(url);
  const answer = await (await session).json();
  assert.deepEqual(answer, { login: expectLoggedIn }, `GET /api/getsession at load of ${url}`);
  if (token === "meta") {
    const content = await page.locator('meta[name="csrf-token"]').getAttribute("content");
    assert.ok(content?.length >= 20 && !content.includes("{"), `the page's csrf-token meta tag: ${content}`);
  }
  if (csrf) {
    const res = await csrf;
    assert.equal(res.status(), 200, "GET /api/getcsrf");
    assert.ok((await res.headerValue("x-csrftoken"))?.length >= 20, "X-CSRFToken header");
  }
  await expectVisible(expectLoggedIn ? authenticated(page) : loginHeading(page));
  return answer;
}

/** Logs in as alice through the form; the login must answer 200 `{"login": true}`. */
async function logIn(page) {
  await page.fill("#username", ALICE.username);
  await page.fill("#password", ALICE.password);
  const accepted = page.waitForResponse(isApi("/api/login"));
  await page.click("button[type=submit]");
  const login = await accepted;
  assert.equal(login.status(), 200, `login: ${await login.text()}`);
  assert.deepEqual(await login.json(), { login: true });
  await expectVisible(authenticated(page));
  await expectHidden(loginHeading(page));
}

async function logOut(page) {
  const out = page.waitForResponse(isApi("/api/logout"));
  await page.getByRole("button", { name: "Log out" }).click();
  const logout = await out;
  assert.equal(logout.status(), 200, `logout: ${await logout.text()}`);
  assert.deepEqual(await logout.json(), { logout: true });
  await expectVisible(loginHeading(page));
}

async function whoami(page) {
  await page.getByRole("button", { name: "WhoAmI" }).click();
  await expectText(page.locator("#welcome"), `Welcome, ${ALICE.username}!`);
}

/**
 * The whole round; `shot` names a screenshot of the logged-in page with the welcome line, and
 * `token` says where the page gets its CSRF token (see `loadSeed`).
 */
export async function seedRound(page, url, { shot, token = "getcsrf" } = {}) {
  let tokenFetches = 0;
  const count = (req) => {
    if (new URL(req.url()).pathname === "/api/getcsrf") tokenFetches += 1;
  };
  page.on("request", count);
  await loadSeed(page, url, { expectLoggedIn: false, token });

  // A wrong password first: the tutorial's message.
  await page.fill("#username", ALICE.username);
  await page.fill("#password", "not-the-password");
  const refused = page.waitForResponse(isApi("/api/login"));
  await page.click("button[type=submit]");
  assert.equal((await refused).status(), 401, "wrong password: 401");
  await expectText(page.locator("small.text-danger"), "Wrong username or password.");

  await logIn(page);
  await whoami(page);

  // Log out and straight in again, without a reload: like the tutorial's page, this one fetches
  // no new token after logout, so the second login sends the token it got when it loaded.
  const fetched = tokenFetches;
  await logOut(page);
  await logIn(page);
  assert.equal(tokenFetches, fetched, "no token was fetched between logout and the second login");
  await whoami(page);
  if (shot) await screenshot(page, shot);

  // A reload keeps the session.
  await loadSeed(page, url, { expectLoggedIn: true, token });
  await whoami(page);
  await logOut(page);

  // And after a reload the page is logged out.
  await loadSeed(page, url, { expectLoggedIn: false, token });
  page.off("request", count);
  if (token === "meta") assert.equal(tokenFetches, 0, "a page with the token in its meta tag never fetches one");
}
