// Deploy mode C, same-site: the classic tutorial's cross-origin frontend
// (tests/e2e/pages/seed-cors: absolute API URLs, `credentials: "include"`) is served by nginx on
// one port and calls Portcullis on another. The origins differ, the site is the same
// (127.0.0.1), so `cookie.same_site = "lax"` and CORS for exactly that origin.

import assert from "node:assert/strict";

import { ALICE, cookie, freePort, scenario, staticSite } from "../lib/harness.js";
import { seedRound } from "../lib/seed.js";

scenario("mode-c-same-site: the cross-origin seed page on another port, SameSite=Lax + CORS", async (stack) => {
  const spaPort = await freePort();
  const spaOrigin = `http://127.0.0.1:${spaPort}`;
  const api = await stack.portcullis({
    config: { cors: { allowed_origins: [spaOrigin] }, cookie: { same_site: "lax" } },
  });
  const root = await stack.pages("seed-cors", { "config.js": `window.API_URL = ${JSON.stringify(api.url)};\n` });
  await stack.nginx({ sites: [staticSite(spaPort, root)], ports: [spaPort] });

  const browser = await stack.browser();
  const page = await stack.newPage(browser);

  // Every API answer the page reads must carry CORS headers for its origin, with credentials.
  const cors = [];
  page.on("response", async (res) => {
    if (!res.url().startsWith(api.url)) return;
    const h = await res.allHeaders();
    cors.push({ url: res.url(), method: res.request().method(), acao: h["access-control-allow-origin"], acac: h["access-control-allow-credentials"] });
  });

  await seedRound(page, `${spaOrigin}/`);

  assert.ok(cors.length >= 8, `the page called the API cross-origin (${cors.length} calls)`);
  for (const c of cors) {
    assert.equal(c.acao, spaOrigin, `${c.method} ${c.url}: Access-Control-Allow-Origin`);
    assert.equal(c.acac, "true", `${c.method} ${c.url}: Access-Control-Allow-Credentials`);
  }

  // Cookies belong to the API's host and are Lax; the page itself cannot read them.
  await page.fill("#username", ALICE.username);
  await page.fill("#password", ALICE.password);
  await page.click("button[type=submit]");
  await page.getByText("You are authenticated!").waitFor();
  const session = await cookie(page, api.url, "portcullis_session");
  assert.equal(session.sameSite, "Lax");
  assert.equal(session.httpOnly, true);
  assert.equal(await page.evaluate(() => document.cookie.includes("portcullis_session")), false);
});
