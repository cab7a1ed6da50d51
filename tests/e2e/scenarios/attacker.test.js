// CSRF and cross-origin reads: while the victim is logged in, pages on two attacker origins —
// one same-site (127.0.0.1 on another port: SameSite cookies ARE sent, only Portcullis's origin
// check stands in the way) and one cross-site (evil.test) — try to
//   (i) auto-submit form POSTs to /api/logout and /api/login (login CSRF into mallory's account),
//   (ii) read /api/data and /api/getcsrf with a credentialed fetch, send simple no-cors POSTs to
//        /api/logout and /api/login, and a preflighted POST with a guessed token.
// The victim must stay logged in as alice, and the attacker's script must read nothing. Run
// against the most relaxed deployment (mode C, SameSite=Lax + CORS for the app's origin) and the
// default one (mode A, the built-in SPA, SameSite=Strict).

import assert from "node:assert/strict";

import { ALICE, MALLORY, expectText, freePort, scenario, staticSite } from "../lib/harness.js";
import { loadSeed } from "../lib/seed.js";
import { expectPage, logIn } from "../lib/spa.js";

const isPath = (url, method, pathname) => (res) => {
  const u = new URL(res.url());
  return u.origin === url && u.pathname === pathname && res.request().method() === method;
};

/** Runs every attack from `evilOrigins` in a new tab of the victim's browser context. */
async function attack(stack, victim, api, evilOrigins) {
  const evil = stack.watch(await victim.page.context().newPage());
  for (const origin of evilOrigins) {
    // (ii) script on the attacker's page.
    await evil.goto(`${origin}/index.html?api=${encodeURIComponent(api.url)}`);
    await evil.waitForFunction(() => document.title === "done", null, { timeout: 10_000 });
    const results = JSON.parse(await evil.locator("#result").textContent());
    for (const read of ["read_data", "read_csrf", "preflighted_logout"]) {
      assert.equal(results[read].outcome, "blocked", `${origin}: ${read} must be blocked by CORS: ${JSON.stringify(results[read])}`);
    }
    assert.equal(await victim.whoami(), ALICE.username, `${origin}: still alice after the script's requests`);

    // (i) auto-submitted forms.
    for (const [page, route] of [["post-logout.html", "/api/logout"], ["post-login.html", "/api/login"]]) {
      const answer = evil.waitForResponse(isPath(api.url, "POST", route));
      await evil.goto(`${origin}/${page}?api=${encodeURIComponent(api.url)}`);
      const res = await answer;
      const body = await res.text();
      assert.notEqual(res.status(), 200, `${origin}: form POST ${route} must be refused, got ${res.status()} ${body}`);
      assert.ok([400, 401, 403].includes(res.status()), `${origin}: form POST ${route}: ${res.status()} ${body}`);
      assert.equal(await victim.whoami(), ALICE.username, `${origin}: still alice after the form POST to ${route}`);
    }
  }
  await evil.close();
  // After everything, a reload of the victim's tab: still logged in as alice.
  await victim.reload();
  assert.equal(await victim.whoami(), ALICE.username, "still alice after a reload");
}

async function attackerSite(stack) {
  const port = await freePort();
  const root = await stack.pages("attacker");
  await stack.nginx({ name: "nginx-attacker", sites: [staticSite(port, root)], ports: [port] });
  return [`http://evil.test:${port}`, `http://127.0.0.1:${port}`];
}

scenario("attacker: mode C (SameSite=Lax, CORS) victim stays logged in, nothing leaks", async (stack) => {
  const spaPort = await freePort();
  const spaOrigin = `http://127.0.0.1:${spaPort}`;
  const api = await stack.portcullis({
    config: { cors: { allowed_origins: [spaOrigin] }, cookie: { same_site: "lax" } },
    users: [ALICE, MALLORY],
  });
  const root = await stack.pages("seed-cors", { "config.js": `window.API_URL = ${JSON.stringify(api.url)};\n` });
  await stack.nginx({ sites: [staticSite(spaPort, root)], ports: [spaPort] });
  const evilOrigins = await attackerSite(stack);

  const browser = await stack.browser();
  const page = await stack.newPage(browser);
  await loadSeed(page, `${spaOrigin}/`, { expectLoggedIn: false });
  await page.fill("#username", ALICE.username);
  await page.fill("#password", ALICE.password);
  await page.click("button[type=submit]");
  await page.getByText("You are authenticated!").waitFor();

  const victim = {
    page,
    async whoami() {
      await page.bringToFront();
      const answer = page.waitForResponse(isPath(api.url, "GET", "/api/data"));
      await page.getByRole("button", { name: "WhoAmI" }).click();
      const res = await answer;
      assert.equal(res.status(), 200, `victim's /api/data: ${await res.text()}`);
      const { username } = await res.json();
      await expectText(page.locator("#welcome"), `Welcome, ${username}!`);
      return username;
    },
    reload: () => loadSeed(page, `${spaOrigin}/`, { expectLoggedIn: true }),
  };
  await attack(stack, victim, api, evilOrigins);
});

scenario("attacker: mode A (built-in SPA, SameSite=Strict) victim stays logged in, nothing leaks", async (stack) => {
  const api = await stack.portcullis({ users: [ALICE, MALLORY] });
  const evilOrigins = await attackerSite(stack);

  const browser = await stack.browser();
  const page = await stack.newPage(browser);
  await page.goto(`${api.url}/login`);
  await logIn(page, ALICE);
  await expectPage(page, "Who am I");

  const victim = {
    page,
    // The SPA's "Who am I" page, loaded again: it asks GET /api/me.
    async whoami() {
      await page.bringToFront();
      const answer = page.waitForResponse(isPath(api.url, "GET", "/api/me"));
      await page.goto(api.url);
      const res = await answer;
      assert.equal(res.status(), 200, `victim's /api/me: ${await res.text()}`);
      const { username } = await res.json();
      await expectText(page.locator('#whoami [data-field="username"]'), username);
      return username;
    },
    async reload() {
      await page.reload();
      await expectPage(page, "Who am I");
    },
  };
  await attack(stack, victim, api, evilOrigins);
});
