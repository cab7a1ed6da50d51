// Deploy mode C, cross-SITE, in a real browser over HTTPS: the tutorial's cross-origin frontend
// (pages/seed-cors) is served from https://app.test:<port>, and Portcullis sits behind
// deploy/nginx/mode-c-tls.conf (this very file) at https://api.test:<port> — two sites, both
// mapped to 127.0.0.1 by Chromium's --host-resolver-rules, with one self-signed certificate made
// at the start. Portcullis: `cookie.same_site = "none"` (which forces Secure and the `__Host-`
// prefix), CORS for exactly the app's origin, nginx as trusted proxy. The page's full round
// (login after a wrong password, whoami, reload, logout, reload) must work with the session
// cookie sent cross-site.

import assert from "node:assert/strict";
import path from "node:path";

import { ALICE, cookie, freePort, renderDeployConf, run, scenario } from "../lib/harness.js";
import { seedRound } from "../lib/seed.js";

/** An nginx server block serving `root` over HTTPS (the app's host, not a deploy file). */
const tlsStaticSite = (port, serverName, root, cert, key) => `
    server {
        listen 127.0.0.1:${port} ssl;
        server_name ${serverName};
        ssl_certificate ${cert};
        ssl_certificate_key ${key};
        root ${root};
        location / {
            try_files $uri $uri/ /index.html;
        }
    }
`;

scenario("mode-c-cross-site: the seed-cors page on app.test, Portcullis behind mode-c-tls.conf on api.test", async (stack, t) => {
  const cert = path.join(stack.dir, "cert.pem");
  const key = path.join(stack.dir, "key.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=api.test",
    "-addext", "subjectAltName=DNS:api.test,DNS:app.test",
  ]);

  const [appPort, apiPort] = [await freePort(), await freePort()];
  const appOrigin = `https://app.test:${appPort}`;
  const apiOrigin = `https://api.test:${apiPort}`;

  const portcullis = await stack.portcullis({
    config: {
      cors: { allowed_origins: [appOrigin] },
      cookie: { same_site: "none" },
      proxy: { trusted: ["127.0.0.1/32"] },
    },
  });
  const root = await stack.pages("seed-cors", { "config.js": `window.API_URL = ${JSON.stringify(apiOrigin)};\n` });
  await stack.nginx({
    sites: [
      renderDeployConf("mode-c-tls.conf", {
        LISTEN_PORT: `127.0.0.1:${apiPort}`,
        SERVER_NAME: "api.test",
        TLS_CERT: cert,
        TLS_KEY: key,
        PORTCULLIS_UPSTREAM: portcullis.hostPort,
      }),
      tlsStaticSite(appPort, "app.test", root, cert, key),
    ],
    ports: [apiPort, appPort],
  });

  // Chromium's default: third-party cookies are blocked (Debian's Chromium 156, also in a fresh
  // profile), so the API's cookies, set in answer to app.test's fetches, are refused and the
  // tutorial's login cannot work cross-site. Recorded, not asserted: it is the browser's
  // setting, and another Chromium may differ.
  const browser = await stack.browser();
  const plain = await stack.newPage(browser, { ignoreHTTPSErrors: true });
  const csrfAnswer = plain.waitForResponse((r) => new URL(r.url()).pathname === "/api/getcsrf");
  await plain.goto(`${appOrigin}/`);
  assert.equal((await csrfAnswer).status(), 200);
  await plain.waitForTimeout(100);
  const stored = (await plain.context().cookies(apiOrigin)).map((c) => c.name);
  t.diagnostic(
    stored.includes("__Host-portcullis_csrf")
      ? "default context: the browser stored the API's third-party cookie"
      : "default context: third-party cookies blocked by the browser (the cross-site login cannot work there)",
  );
  await plain.close();

  // A profile that allows third-party cookies, as a user who allowed them (or allowed this site).
  const context = await stack.thirdPartyCookieContext({ ignoreHTTPSErrors: true });
  const page = stack.watch(context.pages()[0] ?? (await context.newPage()));

  const calls = [];
  page.on("response", async (res) => {
    if (!res.url().startsWith(`${apiOrigin}/`)) return;
    const h = await res.allHeaders();
    calls.push({
      what: `${res.request().method()} ${new URL(res.url()).pathname}`,
      acao: h["access-control-allow-origin"],
      acac: h["access-control-allow-credentials"],
      cookie: (await res.request().allHeaders()).cookie,
    });
  });


  await seedRound(page, `${appOrigin}/`);

  assert.ok(calls.length >= 8, `the page called the API cross-site (${calls.length} calls)`);
  for (const c of calls) {
    assert.equal(c.acao, appOrigin, `${c.what}: Access-Control-Allow-Origin`);
    assert.equal(c.acac, "true", `${c.what}: Access-Control-Allow-Credentials`);
  }
  // The session cookie really crossed sites: the whoami and the reload's getsession sent it.
  const withSession = calls.filter((c) => /__Host-portcullis_session=/.test(c.cookie || ""));
  assert.ok(withSession.some((c) => c.what === "GET /api/data"), `GET /api/data carried the session cookie: ${JSON.stringify(calls.map((c) => c.what))}`);

  // Log in again to look at the cookie: __Host-, Secure, HttpOnly, SameSite=None, on api.test.
  await page.fill("#username", ALICE.username);
  await page.fill("#password", ALICE.password);
  await page.click("button[type=submit]");
  await page.getByText("You are authenticated!").waitFor();
  const session = await cookie(page, apiOrigin, "__Host-portcullis_session");
  assert.ok(session, "a __Host- session cookie for api.test");
  assert.equal(session.domain, "api.test");
  assert.equal(session.sameSite, "None");
  assert.equal(session.secure, true);
  assert.equal(session.httpOnly, true);
  assert.equal(await page.evaluate(() => document.cookie.includes("portcullis_session")), false);
  assert.equal(await cookie(page, appOrigin, "__Host-portcullis_session"), undefined, "no cookie for app.test");
});
