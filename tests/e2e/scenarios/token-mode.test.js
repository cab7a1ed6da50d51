// Token mode with the JS SDK (clients/js) in a real browser: a small page (pages/token) served by
// Portcullis itself (`spa.dir`, same origin) uses `createClient({ mode: "token" })` — the access
// token lives in the page's memory only, the refresh token in its HttpOnly cookie. With a 2 s
// access token (and no leeway) the scenario waits for real expiry and checks that `authFetch`
// refreshes transparently (exactly one POST /auth/refresh per click), that two tabs refreshing at
// the same moment both stay logged in (the server's default 10 s refresh grace), and that a
// logout in one tab logs the other out at its next request.
//
// `token.locations` keeps its default (headers, cookies), so the server also sets an HttpOnly
// `access_token_cookie` (Max-Age = the TTL); the page cannot read it, and the SDK sends the
// bearer header, which takes precedence.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp } from "node:fs/promises";
import path from "node:path";

import { ALICE, REPO, cookie, expectText, run, scenario, sleep } from "../lib/harness.js";

const SDK = path.join(REPO, "clients/js");
const ACCESS_TTL_S = 2;

const isPath = (pathname, method = "POST") => (r) => new URL(r.url()).pathname === pathname && r.request().method() === method;

/** Records every request of `page` whose path is `pathname`, with its answer's status. */
function recorder(page, pathname) {
  const seen = [];
  page.on("requestfinished", async (req) => {
    if (new URL(req.url()).pathname !== pathname) return;
    const res = await req.response();
    seen.push({ method: req.method(), status: res?.status() });
  });
  page.on("requestfailed", (req) => {
    if (new URL(req.url()).pathname === pathname) seen.push({ method: req.method(), status: "failed" });
  });
  return seen;
}

/** Clicks "Who am I"; resolves to the first `/api/me` answer that is not a 401. */
async function whoami(page) {
  const me = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/me" && r.status() !== 401);
  await page.click("#whoami");
  return me;
}

/** Nothing the page can read holds `tokens`: storages and `document.cookie`. */
async function assertNotStored(page, tokens, when) {
  const readable = await page.evaluate(() => ({
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
    cookie: document.cookie,
  }));
  for (const [where, text] of Object.entries(readable)) {
    for (const token of tokens) {
      assert.ok(!text.includes(token), `${when}: the access token is readable in ${where}`);
      // Its signature alone neither.
      assert.ok(!text.includes(token.split(".")[2]), `${when}: the access token's signature is in ${where}`);
    }
  }
  assert.ok(!readable.cookie.includes("access_token_cookie"), `${when}: document.cookie shows an access cookie`);
}

scenario("token-mode: the JS SDK's in-memory token, transparent refresh, two tabs, logout", async (stack, t) => {
  if (!existsSync(path.join(SDK, "dist/index.js"))) {
    await run("npm", ["run", "build", "--prefix", SDK], { timeout: 60_000 });
  }
  const root = await stack.pages("token");
  await cp(path.join(SDK, "dist"), path.join(root, "sdk"), {
    recursive: true,
    filter: (src) => !/\.(d\.ts|map)$/.test(src),
  });

  const api = await stack.portcullis({
    config: {
      spa: { dir: root },
      // The shortest useful access token, and no clock-skew leeway (default 30 s), so that it
      // really expires within the scenario; implicit_refresh_within must be shorter than the
      // TTL. refresh_grace keeps its default (10 s).
      token: { access_ttl: `${ACCESS_TTL_S}s`, leeway: "0s", implicit_refresh_within: "0s" },
    },
  });
  const url = `${api.url}/`;

  const browser = await stack.browser();
  const context = await browser.newContext({ viewport: { width: 800, height: 560 } });
  const tabA = stack.watch(await context.newPage());
  const tokens = [];
  const collect = (page) =>
    page.on("response", async (res) => {
      const p = new URL(res.url()).pathname;
      if ((p === "/auth/login" || p === "/auth/refresh") && res.status() === 200) {
        const body = await res.json().catch(() => ({}));
        if (body.access_token) tokens.push(body.access_token);
      }
    });
  collect(tabA);
  const refreshesA = recorder(tabA, "/auth/refresh");

  // Fresh browser: the start-up refresh has no cookie, the page shows the login form.
  await tabA.goto(url);
  await expectText(tabA.locator("#status"), "logged out");
  assert.deepEqual(refreshesA.map((r) => r.status), [401], "start-up refresh without a cookie");

  // A wrong password first.
  await tabA.fill("#username", ALICE.username);
  await tabA.fill("#password", "not-the-password");
  await tabA.click("button[type=submit]");
  await expectText(tabA.locator("#error"), "Wrong username or password.");

  await tabA.fill("#password", ALICE.password);
  const loginRes = tabA.waitForResponse(isPath("/auth/login"));
  await tabA.click("button[type=submit]");
  const login = await loginRes;
  assert.equal(login.status(), 200);
  const loggedInAt = Date.now();
  assert.equal((await login.json()).expires_in, ACCESS_TTL_S);
  await expectText(tabA.locator("#status"), "logged in");

  // whoami with the fresh token: a bearer request, no refresh.
  refreshesA.length = 0;
  const me1 = await whoami(tabA);
  assert.match(me1.request().headers().authorization || "", /^Bearer ey/, "the SDK sent the token as a bearer");
  await expectText(tabA.locator("#me"), ALICE.username);
  assert.equal(refreshesA.length, 0, "no refresh while the token is valid");

  // The refresh cookie is HttpOnly and scoped to /auth; the page never stored the token.
  const refreshCookie = await cookie(tabA, `${api.url}/auth/refresh`, "refresh_token_cookie");
  assert.equal(refreshCookie?.httpOnly, true, "refresh cookie HttpOnly");
  assert.equal(refreshCookie.path, "/auth");
  await assertNotStored(tabA, tokens, "after login");

  // Past the access token's lifetime (whole seconds in the JWT: wait TTL + 1.2 s).
  await sleep(Math.max(0, loggedInAt + (ACCESS_TTL_S + 1.2) * 1000 - Date.now()));
  refreshesA.length = 0;
  const meCalls = recorder(tabA, "/api/me");
  await tabA.click("#whoami");
  await expectText(tabA.locator("#me"), ALICE.username);
  await tabA.waitForTimeout(200); // late requests would show up here
  assert.deepEqual(refreshesA, [{ method: "POST", status: 200 }], "exactly one transparent refresh for the click");
  assert.deepEqual(meCalls.map((c) => c.status), [401, 200], "the expired token's 401, then the retry");
  assert.equal(tokens.length, 2, "login and one refresh issued tokens");
  await assertNotStored(tabA, tokens, "after the refresh");

  // A second tab of the same browser (same cookie jar): at load it gets its own token from the
  // refresh cookie. Then both tokens expire and both tabs click at the same moment.
  const tabB = stack.watch(await context.newPage());
  collect(tabB);
  const refreshesB = recorder(tabB, "/auth/refresh");
  await tabB.goto(url);
  await expectText(tabB.locator("#status"), "logged in");
  assert.deepEqual(refreshesB.map((r) => r.status), [200], "tab B's start-up refresh");
  const bStartedAt = Date.now();
  await tabB.click("#whoami");
  await expectText(tabB.locator("#me"), ALICE.username);

  await sleep(Math.max(0, bStartedAt + (ACCESS_TTL_S + 1.2) * 1000 - Date.now()));
  refreshesA.length = 0;
  refreshesB.length = 0;
  await tabA.evaluate(() => (document.getElementById("me").textContent = ""));
  await tabB.evaluate(() => (document.getElementById("me").textContent = ""));
  const [refreshA, refreshB] = [tabA.waitForResponse(isPath("/auth/refresh")), tabB.waitForResponse(isPath("/auth/refresh"))];
  // "At the same moment", as near as a test can make it: each tab's refresh is held until both
  // tabs have sent one, then both are let go together. Both intercepted requests carry the same
  // refresh cookie, but Chromium attaches cookies again when a held request continues, so the
  // later one may already carry the cookie the earlier one's answer rotated in (then the server
  // simply rotates again). Either way both tabs must get a 200: the same next refresh token
  // again within the grace window, or the next generation.
  const held = [];
  let release;
  const bothSent = new Promise((resolve) => (release = resolve));
  const hold = async (route) => {
    held.push(route.request().url());
    if (held.length === 2) release();
    await bothSent;
    await route.continue();
  };
  await tabA.route("**/auth/refresh", hold);
  await tabB.route("**/auth/refresh", hold);
  await Promise.all([tabA.click("#whoami"), tabB.click("#whoami")]);
  const [ra, rb] = await Promise.all([refreshA, refreshB]);
  await tabA.unroute("**/auth/refresh", hold);
  await tabB.unroute("**/auth/refresh", hold);
  assert.equal(ra.status(), 200, `tab A's refresh: ${await ra.text()}`);
  assert.equal(rb.status(), 200, `tab B's refresh: ${await rb.text()}`);
  const setRefresh = async (res) =>
    (await res.headersArray())
      .filter((h) => h.name.toLowerCase() === "set-cookie")
      .map((h) => /^refresh_token_cookie=([^;]+)/.exec(h.value)?.[1])
      .find(Boolean);
  const generation = (token) => Number(token.split(".")[1]);
  const [nextA, nextB] = [await setRefresh(ra), await setRefresh(rb)];
  assert.ok(nextA && nextB, "both refreshes set a new refresh cookie");
  if (nextA === nextB) {
    t.diagnostic("concurrent refresh: both tabs presented the same token; the grace window gave both the same next one");
  } else {
    assert.equal(Math.abs(generation(nextA) - generation(nextB)), 1, `consecutive generations: ${nextA} ${nextB}`);
    t.diagnostic("concurrent refresh: the second request went out with the already rotated cookie and rotated it again");
  }
  await expectText(tabA.locator("#me"), ALICE.username);
  await expectText(tabB.locator("#me"), ALICE.username);
  await tabA.waitForTimeout(200);
  assert.equal(refreshesA.length, 1, `tab A: one refresh (${JSON.stringify(refreshesA)})`);
  assert.equal(refreshesB.length, 1, `tab B: one refresh (${JSON.stringify(refreshesB)})`);
  await expectText(tabA.locator("#status"), "logged in");
  await expectText(tabB.locator("#status"), "logged in");
  await assertNotStored(tabA, tokens, "tab A after the concurrent refresh");
  await assertNotStored(tabB, tokens, "tab B after the concurrent refresh");

  // Logout in tab A: tab B, whose in-memory token is still unexpired, is refused at its next
  // request (the session is gone), its refresh gets 401 (the cookie is cleared and the family
  // revoked), and its UI shows it logged out.
  const out = tabA.waitForResponse(isPath("/auth/logout"));
  await tabA.click("#logout");
  assert.equal((await out).status(), 200);
  await expectText(tabA.locator("#status"), "logged out");

  refreshesB.length = 0;
  const bRefresh = tabB.waitForResponse(isPath("/auth/refresh"));
  const bMe = tabB.waitForResponse(isPath("/api/me", "GET"));
  await tabB.click("#whoami");
  assert.equal((await bMe).status(), 401, "tab B's whoami after the logout");
  assert.equal((await bRefresh).status(), 401, "tab B's refresh after the logout");
  await expectText(tabB.locator("#status"), "logged out");
  await expectText(tabB.locator("#error"), "Your session has ended. Please log in again.");
  assert.equal(await tabB.locator("#app").isVisible(), false, "tab B hides the app");
  await tabB.waitForTimeout(200);
  assert.equal(refreshesB.length, 1, "tab B tried one refresh, no loop");

  // And a reload of tab B stays logged out.
  await tabB.reload();
  await expectText(tabB.locator("#status"), "logged out");
});
