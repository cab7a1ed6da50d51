// deploy/nginx/mode-c-tls.conf, this very file, with a self-signed certificate: nginx terminates
// TLS in front of Portcullis configured for mode C cross-site (SameSite=None; Secure, CORS for
// one origin). A check of the proxy configuration at the HTTP level, without a browser: the
// cross-site browser scenario over HTTPS belongs with the JS SDK's tests.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import https from "node:https";
import path from "node:path";

import { ALICE, freePort, renderDeployConf, run, scenario } from "../lib/harness.js";

/** One HTTPS request trusting only `ca`; resolves to { status, headers, body }. */
function request(url, { method = "GET", headers = {}, body, ca }) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (data += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: data }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const cookiePairs = (res) => (res.headers["set-cookie"] || []).map((c) => c.split(";")[0]);

scenario("mode-c-tls-proxy: nginx mode-c-tls.conf terminates TLS for a cross-site Portcullis", async (stack) => {
  const cert = path.join(stack.dir, "cert.pem");
  const key = path.join(stack.dir, "key.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  const ca = await readFile(cert);

  const app = "https://app.portcullis.test:8443";
  const api = await stack.portcullis({
    config: { cors: { allowed_origins: [app] }, cookie: { same_site: "none", secure: true } },
  });
  const port = await freePort();
  await stack.nginx({
    sites: [
      renderDeployConf("mode-c-tls.conf", {
        LISTEN_PORT: `127.0.0.1:${port}`,
        SERVER_NAME: "localhost 127.0.0.1",
        TLS_CERT: cert,
        TLS_KEY: key,
        PORTCULLIS_UPSTREAM: api.hostPort,
      }),
    ],
    ports: [port],
  });
  const base = `https://127.0.0.1:${port}`;

  const ping = await request(`${base}/api/ping`, { ca });
  assert.equal(ping.status, 200);
  assert.deepEqual(JSON.parse(ping.body), { ping: "pong!" });
  assert.match(ping.headers["strict-transport-security"] || "", /max-age=\d+/);

  // CORS preflight from the app's origin: answered once, by Portcullis.
  const preflight = await request(`${base}/api/login`, {
    method: "OPTIONS",
    ca,
    headers: {
      Origin: app,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type,x-csrftoken",
    },
  });
  assert.ok(preflight.status === 200 || preflight.status === 204, `preflight: ${preflight.status}`);
  const acao = preflight.rawHeaders.filter((_, i, a) => i % 2 === 0 && /^access-control-allow-origin$/i.test(a[i]));
  assert.equal(acao.length, 1, "exactly one Access-Control-Allow-Origin (nginx adds none)");
  assert.equal(preflight.headers["access-control-allow-origin"], app);
  assert.equal(preflight.headers["access-control-allow-credentials"], "true");

  // The seed's cross-origin flow over TLS: token, login, data.
  const csrf = await request(`${base}/api/getcsrf`, { ca, headers: { Origin: app } });
  assert.equal(csrf.status, 200);
  const token = csrf.headers["x-csrftoken"];
  assert.ok(token, "X-CSRFToken");
  assert.match(csrf.headers["access-control-expose-headers"] || "", /x-csrftoken/i);
  let jar = cookiePairs(csrf);

  const login = await request(`${base}/api/login`, {
    method: "POST",
    ca,
    headers: {
      Origin: app,
      "Content-Type": "application/json",
      "X-CSRFToken": token,
      Cookie: jar.join("; "),
      // A client's claim, overwritten by nginx.
      "X-Forwarded-For": "203.0.113.9",
    },
    body: JSON.stringify(ALICE),
  });
  assert.equal(login.status, 200, login.body);
  assert.deepEqual(JSON.parse(login.body), { login: true });
  const sessionCookie = (login.headers["set-cookie"] || []).find((c) => /^__Host-portcullis_session=/.test(c));
  assert.ok(sessionCookie, `a __Host- session cookie: ${login.headers["set-cookie"]}`);
  assert.match(sessionCookie, /;\s*Secure/i);
  assert.match(sessionCookie, /;\s*HttpOnly/i);
  assert.match(sessionCookie, /;\s*SameSite=None/i);
  jar = [...jar.filter((c) => !c.startsWith("__Host-portcullis_session=")), sessionCookie.split(";")[0]];

  const data = await request(`${base}/api/data`, { ca, headers: { Origin: app, Cookie: jar.join("; ") } });
  assert.equal(data.status, 200, data.body);
  assert.deepEqual(JSON.parse(data.body), { username: ALICE.username });
  assert.equal(data.headers["access-control-allow-origin"], app);

  const sessions = await request(`${base}/api/sessions`, { ca, headers: { Cookie: jar.join("; ") } });
  const current = JSON.parse(sessions.body).sessions.find((s) => s.current);
  assert.equal(current.ip, "127.0.0.1", "nginx overwrote the client's X-Forwarded-For");

  // Another origin is refused even with a valid token and cookie.
  const evil = await request(`${base}/api/logout`, {
    method: "POST",
    ca,
    headers: { Origin: "https://evil.test", "X-CSRFToken": token, Cookie: jar.join("; ") },
  });
  assert.ok([400, 403].includes(evil.status), `logout from another origin: ${evil.status} ${evil.body}`);
  assert.equal(JSON.parse(evil.body).code, "csrf_failed");
  assert.equal(evil.headers["access-control-allow-origin"], undefined);

  const out = await request(`${base}/api/logout`, {
    method: "POST",
    ca,
    headers: { Origin: app, "X-CSRFToken": token, Cookie: jar.join("; ") },
  });
  assert.equal(out.status, 200, out.body);
  const after = await request(`${base}/api/data`, { ca, headers: { Origin: app, Cookie: jar.join("; ") } });
  assert.equal(after.status, 401);
});
