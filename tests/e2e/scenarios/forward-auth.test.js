// Forward auth: nginx (deploy/nginx/forward-auth.conf, this very file) protects an app that
// knows nothing about logins with `auth_request` to Portcullis's /auth/verify. The app here is
// an nginx location that echoes the X-Auth-* headers it receives.

import assert from "node:assert/strict";

import { ALICE, expectText, freePort, renderDeployConf, scenario } from "../lib/harness.js";
import { expectPage } from "../lib/spa.js";

/** The protected app: echoes what nginx passed to it (trusted headers, set by nginx alone). */
const app = (port) => `
    server {
        listen 127.0.0.1:${port};
        default_type text/html;
        location /app/ {
            return 200 '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Protected app</title></head><body><h1>Protected app</h1><p>Hello, <span id="user">$http_x_auth_user</span>!</p><p id="roles">$http_x_auth_roles</p></body></html>';
        }
        location = /app/whoami.json {
            default_type application/json;
            return 200 '{"user": "$http_x_auth_user", "id": "$http_x_auth_user_id", "roles": "$http_x_auth_roles", "cookie": "$http_cookie", "authorization": "$http_authorization", "uri": "$request_uri"}';
        }
        location /admin/ {
            return 200 'admin area for $http_x_auth_user';
        }
    }
`;

scenario("forward-auth: auth_request protects an upstream app; login redirect, 401 JSON, X-Auth-User", async (stack) => {
  const api = await stack.portcullis();
  const [port, appPort] = [await freePort(), await freePort()];
  await stack.nginx({
    sites: [
      renderDeployConf("forward-auth.conf", {
        LISTEN_PORT: `127.0.0.1:${port}`,
        SERVER_NAME: "localhost 127.0.0.1",
        PORTCULLIS_UPSTREAM: api.hostPort,
        APP_UPSTREAM: `127.0.0.1:${appPort}`,
      }),
      app(appPort),
    ],
    ports: [port, appPort],
  });
  const site = `http://127.0.0.1:${port}`;
  const browser = await stack.browser();
  const page = await stack.newPage(browser);

  // 1. Anonymous navigation: 302 to the login page, `next` URL-encoded.
  const target = "/app/?greeting=a%20b&x=1";
  const landed = await page.goto(`${site}${target}`);
  const redirect = await landed.request().redirectedFrom()?.response();
  assert.ok(redirect, "the navigation was redirected");
  assert.equal(redirect.status(), 302);
  const location = await redirect.headerValue("location");
  assert.equal(location, `/login?next=${encodeURIComponent(target)}`, "Location with next URL-encoded");
  const loginUrl = new URL(page.url());
  assert.equal(loginUrl.pathname, "/login");
  assert.equal(loginUrl.searchParams.get("next"), target, "next decodes to the original URI");
  // The built-in SPA's login page, its files under /portcullis/ passed through by the proxy.
  await expectPage(page, "Log in");

  // 2. fetch/XHR while anonymous: Portcullis's 401 problem+json, never a redirect.
  const calls = await page.evaluate(async () => {
    const call = async (headers) => {
      const res = await fetch("/app/whoami.json", { headers, redirect: "manual" });
      return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
    };
    return {
      accept: await call({ Accept: "application/json" }),
      xhr: await call({ "X-Requested-With": "XMLHttpRequest" }),
      plain: await call({}),
      spoofed: await call({ Accept: "application/json", "X-Auth-User": "mallory" }),
    };
  });
  for (const [name, c] of Object.entries(calls)) {
    assert.equal(c.status, 401, `${name}: ${JSON.stringify(c)}`);
    assert.match(c.type || "", /^application\/problem\+json/, `${name}: content type`);
    assert.equal(JSON.parse(c.body).code, "unauthenticated", `${name}: code`);
  }

  // 3. Log in on the login page: it sends the browser on to `next` by itself (the server
  //    checked it is a path on this site), and the app sees alice.
  await page.fill("#username", ALICE.username);
  await page.fill("#password", ALICE.password);
  const appLoaded = page.waitForResponse(
    (r) => r.request().isNavigationRequest() && new URL(r.url()).pathname === "/app/",
  );
  await page.click("#login button[type=submit]");
  const appPage = await appLoaded;
  assert.equal(appPage.status(), 200);
  assert.equal(new URL(appPage.url()).search, new URL(`${site}${target}`).search, "the query came along");
  // No redirect back to the login page once logged in.
  await page.waitForURL((url) => url.pathname === "/app/");
  await expectText(page.locator("#user"), ALICE.username);

  // What the app received: the user from Portcullis (not the client's claim), no session cookie.
  const seen = await page.evaluate(async () => {
    const res = await fetch("/app/whoami.json?q=1", { headers: { Accept: "application/json", "X-Auth-User": "mallory" } });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(seen.status, 200);
  assert.equal(seen.body.user, ALICE.username, "X-Auth-User comes from Portcullis, not the client");
  assert.match(seen.body.id, /^[0-9a-f-]{36}$/, "X-Auth-User-Id");
  assert.equal(seen.body.cookie, "", "the app does not get the session cookie");
  assert.equal(seen.body.uri, "/app/whoami.json?q=1");

  // A role the user lacks: 403.
  const admin = await page.goto(`${site}/admin/`);
  assert.equal(admin.status(), 403, "alice is not an admin");

  // 4. A bearer token works too (Authorization reaches /auth/verify) — from outside a browser.
  const tokenLogin = await fetch(`${site}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(ALICE),
  });
  assert.equal(tokenLogin.status, 200, await tokenLogin.clone().text());
  const { access_token } = await tokenLogin.json();
  const bearer = await fetch(`${site}/app/whoami.json`, { headers: { Authorization: `Bearer ${access_token}` } });
  assert.equal(bearer.status, 200);
  const bearerSeen = await bearer.json();
  assert.equal(bearerSeen.user, ALICE.username);
  assert.equal(bearerSeen.authorization, "", "the app does not get the token either");
  const badBearer = await fetch(`${site}/app/whoami.json`, {
    headers: { Authorization: "Bearer not-a-token", Accept: "application/json" },
  });
  assert.equal(badBearer.status, 401);
  assert.match((await badBearer.json()).code, /^token_/, "the token's own error code is passed through");

  // 5. Log out on the login page: the app is closed again.
  await page.goto(`${site}/login`);
  await expectPage(page, "You are logged in");
  await page.click("#logout");
  await expectPage(page, "Log in");
  const again = await page.goto(`${site}/app/`);
  assert.equal(new URL(page.url()).pathname, "/login", "redirected to the login page again");
  assert.equal(new URL(page.url()).searchParams.get("next"), "/app/");
  assert.equal(again.status(), 200);
});
