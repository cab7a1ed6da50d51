// Deploy mode B behind the classic tutorial's own nginx.conf (tests/e2e/nginx, unchanged but for
// its upstreams and port), at a plain-HTTP host name that is not localhost: http://app.test:<port>
// (mapped to 127.0.0.1 by Chromium's --host-resolver-rules). That config sends `Host $host`
// (no port) and `X-Forwarded-Host $server_name` (`localhost`), and a browser sends no
// Sec-Fetch-Site to a plain-HTTP site other than localhost, so only `Origin` says where a login
// came from: Portcullis compares it with `server.public_origin`.

import assert from "node:assert/strict";
import path from "node:path";

import { ALICE, E2E_NGINX, cookie, freePort, renderConf, scenario, staticSite } from "../lib/harness.js";
import { seedRound } from "../lib/seed.js";

scenario("mode-b-tutorial-nginx: the tutorial's nginx.conf at http://app.test", async (stack) => {
  const port = await freePort();
  const frontendPort = await freePort();
  const site = `http://app.test:${port}`;
  const api = await stack.portcullis({ config: { server: { public_origin: site } } });
  const spaRoot = await stack.pages("seed");
  await stack.nginx({
    sites: [
      renderConf(path.join(E2E_NGINX, "flask-spa-same-origin.conf"), {
        LISTEN_PORT: `127.0.0.1:${port}`,
        PORTCULLIS_UPSTREAM: api.hostPort,
        // The tutorial's frontend is a dev server; here the same page's files, served by nginx.
        APP_UPSTREAM: `127.0.0.1:${frontendPort}`,
      }),
      staticSite(frontendPort, spaRoot),
    ],
    ports: [port, frontendPort],
  });

  const browser = await stack.browser();
  const page = await stack.newPage(browser);
  const logins = [];
  page.on("request", (req) => {
    if (new URL(req.url()).pathname === "/api/login") logins.push(req.allHeaders());
  });
  await seedRound(page, `${site}/`);

  // What the browser said about its logins: its origin, with the port, and no fetch metadata.
  assert.ok(logins.length >= 3, `${logins.length} logins`);
  for (const headers of await Promise.all(logins)) {
    assert.equal(headers.origin, site);
    assert.equal(headers["sec-fetch-site"], undefined, "no Sec-Fetch-Site to a plain-HTTP host name");
  }
  const csrf = await cookie(page, site, "portcullis_csrf");
  assert.equal(csrf?.sameSite, "Strict");
  assert.ok(csrf?.httpOnly);

  // Another port of the same host is another origin (RFC 6454), though its requests are
  // same-site and carry the SameSite=Strict cookies: the same form login, with this browser's
  // valid token, passes from the site's own page and is refused from a page on another port.
  const token = await page.evaluate(async () => (await fetch("/api/getcsrf")).headers.get("X-CSRFToken"));
  const formLogin = async (from) => {
    const answer = from.waitForResponse((r) => new URL(r.url()).pathname === "/api/login");
    await from.evaluate(
      async ({ url, fields }) => {
        await fetch(url, { method: "POST", mode: "no-cors", credentials: "include", body: new URLSearchParams(fields) });
      },
      { url: `${site}/api/login`, fields: { ...ALICE, csrf_token: token } },
    );
    return (await answer).status();
  };
  const sibling = stack.watch(await page.context().newPage());
  await sibling.goto(`http://app.test:${frontendPort}/global.css`);
  assert.equal(await formLogin(sibling), 400, "a login from another port of the host is refused");
  assert.equal(await formLogin(page), 200, "the same login from the site's own page passes");
});
