// Drives the seed-style page (tests/e2e/pages/seed and seed-cors) through its UI, as a person
// would: log in (after one wrong password), who am I, reload, log out, reload.

import assert from "node:assert/strict";

import { ALICE, expectHidden, expectText, expectVisible, screenshot } from "./harness.js";

const loginHeading = (page) => page.locator("h2", { hasText: "Login" });
const authenticated = (page) => page.getByText("You are authenticated!");
const isApi = (route) => (response) => new URL(response.url()).pathname === route;

/**
 * Loads `url` and waits for the page's start-up calls: `/api/getsession`, and, when logged out,
 * `/api/getcsrf`. Returns the getsession answer.
 */
export async function loadSeed(page, url, { expectLoggedIn }) {
  const session = page.waitForResponse(isApi("/api/getsession"));
  const csrf = expectLoggedIn ? null : page.waitForResponse(isApi("/api/getcsrf"));
  await page.goto(url);
  const answer = await (await session).json();
  assert.deepEqual(answer, { login: expectLoggedIn }, `GET /api/getsession at load of ${url}`);
  if (csrf) {
    const res = await csrf;
    assert.equal(res.status(), 200, "GET /api/getcsrf");
    assert.ok((await res.headerValue("x-csrftoken"))?.length >= 20, "X-CSRFToken header");
    await expectVisible(loginHeading(page));
  } else {
    await expectVisible(authenticated(page));
  }
  return answer;
}

/** The whole round; `shot` names a screenshot of the logged-in page with the welcome line. */
export async function seedRound(page, url, { shot } = {}) {
  await loadSeed(page, url, { expectLoggedIn: false });

  // A wrong password first: the tutorial's message.
  await page.fill("#username", ALICE.username);
  await page.fill("#password", "not-the-password");
  const refused = page.waitForResponse(isApi("/api/login"));
  await page.click("button[type=submit]");
  assert.equal((await refused).status(), 401, "wrong password: 401");
  await expectText(page.locator("small.text-danger"), "Wrong username or password.");

  await page.fill("#username", ALICE.username);
  await page.fill("#password", ALICE.password);
  const accepted = page.waitForResponse(isApi("/api/login"));
  await page.click("button[type=submit]");
  const login = await accepted;
  assert.equal(login.status(), 200, `login: ${await login.text()}`);
  assert.deepEqual(await login.json(), { login: true });
  await expectVisible(authenticated(page));
  await expectHidden(loginHeading(page));

  await page.getByRole("button", { name: "WhoAmI" }).click();
  await expectText(page.locator("#welcome"), `Welcome, ${ALICE.username}!`);
  if (shot) await screenshot(page, shot);

  // A reload keeps the session.
  await loadSeed(page, url, { expectLoggedIn: true });
  await page.getByRole("button", { name: "WhoAmI" }).click();
  await expectText(page.locator("#welcome"), `Welcome, ${ALICE.username}!`);

  const out = page.waitForResponse(isApi("/api/logout"));
  await page.getByRole("button", { name: "Log out" }).click();
  const logout = await out;
  assert.equal(logout.status(), 200, `logout: ${await logout.text()}`);
  assert.deepEqual(await logout.json(), { logout: true });
  await expectVisible(loginHeading(page));

  // And after a reload the page is logged out.
  await loadSeed(page, url, { expectLoggedIn: false });
}
