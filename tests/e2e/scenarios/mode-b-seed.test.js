// Deploy mode B: nginx (deploy/nginx/mode-b.conf, this very file) serves the classic tutorial's
// same-domain frontend (tests/e2e/pages/seed, unchanged) and proxies /api and /auth to
// Portcullis. Same origin, so SameSite=Strict cookies and no CORS.

import assert from "node:assert/strict";

import { ALICE, cookie, freePort, renderDeployConf, scenario } from "../lib/harness.js";
import { seedRound } from "../lib/seed.js";

scenario("mode-b-seed: the seed page behind nginx mode-b.conf", async (stack) => {
  const api = await stack.portcullis();
  const spaRoot = await stack.pages("seed");
  const port = await freePort();
  await stack.nginx({
    sites: [
      renderDeployConf("mode-b.conf", {
        LISTEN_PORT: `127.0.0.1:${port}`,
        SERVER_NAME: "localhost 127.0.0.1",
        PORTCULLIS_UPSTREAM: api.hostPort,
        SPA_ROOT: spaRoot,
      }),
    ],
    ports: [port],
  });
  const site = `http://127.0.0.1:${port}`;

  const browser = await stack.browser();
  // The client claims to be someone else in X-Forwarded-For; nginx, the edge, must overwrite it.
  const page = await stack.newPage(browser, { extraHTTPHeaders: { "X-Forwarded-For": "203.0.113.9" } });

  // nginx serves the page as it is: no meta tag, no CSP; the token comes from /api/getcsrf.
  // Fetched beside the page, not loaded in it: the round below must see only its own calls.
  const index = await page.request.get(`${site}/`);
  assert.doesNotMatch(await index.text(), /csrf-token/);

  await seedRound(page, `${site}/`, { shot: "seed-mode-b" });

  // Log in again to look at the session Portcullis recorded behind the proxy.
  await page.fill("#username", ALICE.username);
  await page.fill("#password", ALICE.password);
  await page.click("button[type=submit]");
  await page.getByText("You are authenticated!").waitFor();
  const sessions = await page.evaluate(async () => (await fetch("/api/sessions")).json());
  const current = sessions.sessions.find((s) => s.current);
  assert.equal(current.ip, "127.0.0.1", "Portcullis saw the address nginx gave, not the client's claim");
  assert.match(current.user_agent || "", /Chrome/, "the user agent went through");

  const session = await cookie(page, site, "portcullis_session");
  assert.equal(session.sameSite, "Strict");
  assert.equal(session.httpOnly, true);

  // A client-side route falls back to index.html; the token routes are proxied too.
  const deep = await page.goto(`${site}/deep/link`);
  assert.equal(deep.status(), 200);
  await page.getByText("You are authenticated!").waitFor();
  const jwks = await page.evaluate(async () => (await fetch("/.well-known/jwks.json")).json());
  assert.ok(Array.isArray(jwks.keys) && jwks.keys.length > 0, "JWKS through nginx");
});
