// Several instances: three `portcullis serve` on one Postgres database and one Redis (both the
// scenario's own), with the same `[secrets]`, behind nginx with deploy/nginx/multi-instance.conf
// (round robin). HTTP-level, with Node's fetch and a cookie jar per client; no browser.
//
//   a. a session made through nginx is honoured by every instance (X-Upstream names them);
//   b. a logout is seen by every instance's warmed session cache within 1 s (Redis pub/sub);
//   c. so is an admin's "revoke sessions" made on instance 1, on instances 2 and 3;
//   d. failed logins spread over the instances lock the account after N in total, not N each;
//   e. a refresh token rotated on instance 2 and replayed on instance 3 after the grace window
//      revokes the family everywhere (`refresh_reused`);
//   f. with Redis down every instance fails closed (503 `unavailable`, `/readyz` 503, no login)
//      and recovers by itself once it is back.
//
// The session cache keeps an entry for `session.touch_interval` (60 s here), so a refusal within
// 1 s after a revocation made elsewhere comes from the fan-out, not from the cache expiring.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { ALICE, freePort, renderDeployConf, scenario, sleep } from "../lib/harness.js";
import { Client, createDatabase, sharedSecrets, show, startRedis, until } from "../lib/cluster.js";

const ADMIN = { username: "root-admin", password: "admin-password-77", admin: true };
const BOB = { username: "bob", password: "bob-password-1234" };
const CAROL = { username: "carol", password: "carol-password-99" };
const DAVE = { username: "dave", password: "dave-password-555" };

/** Failures that lock an account (one lockout window, `within` 10 minutes). */
const LOCK_AFTER = 3;
/** How soon every instance must refuse a revoked session. */
const FANOUT_DEADLINE_MS = 1_000;
const REFRESH_GRACE_S = 1;

/**
 * Runs one lettered step; a failure names it. (A plain Error, with the original as its cause:
 * the runner prints an AssertionError's stack as it was made, without the processes' logs that
 * `scenario` appends to the message.)
 */
async function step(t, name, fn) {
  const started = performance.now();
  try {
    await fn();
  } catch (err) {
    throw new Error(`step ${name}: ${err.message}`, { cause: err });
  }
  t.diagnostic(`${name}: ${Math.round(performance.now() - started)} ms`);
}

const isProblem = (res, status, code) =>
  res.status === status && res.type.startsWith("application/problem+json") && res.body?.code === code;

scenario(
  "multi-instance: three instances on shared Postgres + Redis behind nginx round robin",
  async (stack, t) => {
    const redis = await startRedis(stack);
    const db = await createDatabase(t);
    const secrets = sharedSecrets();
    const config = {
      store: { url: db.url, redis_url: redis.url, redis_prefix: `pc-e2e-${randomBytes(4).toString("hex")}:` },
      secrets,
      // Cache entries live this long: see the top of the file.
      session: { touch_interval: "60s" },
      // Roomy rate limits (every client here is 127.0.0.1), a small lockout.
      limits: { per_ip_per_minute: 10_000, per_ip_burst: 10_000, per_user_per_minute: 10_000, per_user_burst: 10_000 },
      lockout: { windows: [{ failures: LOCK_AFTER, within: "10m" }] },
      token: { refresh_grace: `${REFRESH_GRACE_S}s` },
    };

    // The accounts are made once, in the shared database, with the first instance's config.
    const one = await stack.portcullis({ name: "pc1", config, users: [ALICE, ADMIN, BOB, CAROL, DAVE] });
    const [two, three] = await Promise.all([
      stack.portcullis({ name: "pc2", config, users: [] }),
      stack.portcullis({ name: "pc3", config, users: [] }),
    ]);
    const instances = [one, two, three];
    const label = (hostPort) => `pc${instances.findIndex((i) => i.hostPort === hostPort) + 1}`;

    const port = await freePort();
    await stack.nginx({
      sites: [
        renderDeployConf("multi-instance.conf", {
          LISTEN_PORT: `127.0.0.1:${port}`,
          SERVER_NAME: "localhost 127.0.0.1",
          PORTCULLIS_UPSTREAM_1: one.hostPort,
          PORTCULLIS_UPSTREAM_2: two.hostPort,
          PORTCULLIS_UPSTREAM_3: three.hostPort,
        }),
      ],
      ports: [port],
    });
    const site = `http://127.0.0.1:${port}`;

    /** `GET path` on every instance directly with `cookies` (or `headers`), in parallel. */
    const onEach = (path, options) =>
      Promise.all(instances.map((i) => new Client().get(`${i.url}${path}`, { keep: false, ...options })));

    /** Polls every instance until it refuses `cookies` (401 `unauthenticated`) on /api/data. */
    const refusedEverywhere = (what, options, since) =>
      Promise.all(
        instances.map((i) =>
          until(
            `${what} on ${label(i.hostPort)}`,
            () => new Client().get(`${i.url}/api/data`, { keep: false, ...options }),
            (res) => isProblem(res, 401, "unauthenticated"),
            { timeout: FANOUT_DEADLINE_MS, since },
          ),
        ),
      );

    // ------------------------------------------------------------------------------------------
    const web = new Client();
    await step(t, "a. one session through nginx, served by all three instances", async () => {
      const login = await web.login(site, ALICE);
      assert.equal(login.status, 200, `login through nginx: ${show(login)}`);
      assert.deepEqual(login.body, { login: true });
      assert.ok(web.jar.get("portcullis_session"), "a session cookie was set");

      const answered = new Map();
      for (let n = 0; n < 12; n++) {
        const me = await web.get(`${site}/api/me`);
        assert.equal(me.status, 200, `GET /api/me #${n + 1} through nginx: ${show(me)}`);
        assert.equal(me.body.username, ALICE.username);
        const upstream = me.headers.get("x-upstream");
        assert.ok(upstream, "nginx names the instance in X-Upstream");
        answered.set(label(upstream), (answered.get(label(upstream)) || 0) + 1);
      }
      assert.deepEqual([...answered.keys()].sort(), ["pc1", "pc2", "pc3"], `answered by ${JSON.stringify([...answered])}`);
      t.diagnostic(`a: 12 requests answered by ${JSON.stringify(Object.fromEntries(answered))}`);

      // The JWKS is the same whichever instance answers (shared secrets.jwt_keys).
      const kids = new Set();
      for (let n = 0; n < 3; n++) {
        const jwks = await web.get(`${site}/.well-known/jwks.json`);
        assert.equal(jwks.status, 200, show(jwks));
        kids.add(jwks.body.keys.map((k) => k.kid).join(","));
      }
      assert.equal(kids.size, 1, `one key set on every instance: ${[...kids]}`);
    });

    // ------------------------------------------------------------------------------------------
    await step(t, "b. logout through nginx reaches every instance's cache", async () => {
      const session = `portcullis_session=${web.jar.get("portcullis_session")}`;
      // Warm every instance's cache with this very session.
      for (const res of await onEach("/api/me", { cookies: session })) {
        assert.equal(res.status, 200, `warming: ${show(res)}`);
      }
      const since = performance.now();
      const logout = await web.post(`${site}/api/logout`, { headers: web.csrfHeaders() });
      assert.equal(logout.status, 200, `logout through nginx: ${show(logout)}`);
      assert.deepEqual(logout.body, { logout: true });
      assert.equal(web.jar.get("portcullis_session"), undefined, "logout cleared the cookie");
      const seen = await refusedEverywhere("the logged-out session refused", { cookies: session }, since);
      t.diagnostic(
        `b: logout on ${label(logout.headers.get("x-upstream"))}; refused after ` +
          seen.map((s, i) => `pc${i + 1} ${Math.round(s.ms)} ms`).join(", "),
      );
    });

    // ------------------------------------------------------------------------------------------
    await step(t, "c. an admin's revocation on instance 1 reaches instances 2 and 3", async () => {
      const victim = new Client();
      const login = await victim.login(two.url, BOB);
      assert.equal(login.status, 200, `bob's login on pc2: ${show(login)}`);
      const session = `portcullis_session=${victim.jar.get("portcullis_session")}`;
      const warm = await onEach("/api/me", { cookies: session });
      for (const res of warm) assert.equal(res.status, 200, `warming: ${show(res)}`);
      const bobId = warm[0].body.id;

      const admin = new Client();
      const adminLogin = await admin.login(one.url, ADMIN);
      assert.equal(adminLogin.status, 200, `admin login on pc1: ${show(adminLogin)}`);
      const since = performance.now();
      const revoke = await admin.post(`${one.url}/api/admin/users/${bobId}/revoke-sessions`, {
        headers: admin.csrfHeaders(),
      });
      assert.equal(revoke.status, 200, `revoke-sessions on pc1: ${show(revoke)}`);
      assert.ok(revoke.body.revoked >= 1, `sessions ended: ${show(revoke)}`);
      const seen = await refusedEverywhere("bob's revoked session refused", { cookies: session }, since);
      t.diagnostic(`c: refused after ${seen.map((s, i) => `pc${i + 1} ${Math.round(s.ms)} ms`).join(", ")}`);
      // The admin's own session is untouched.
      const still = await admin.get(`${three.url}/api/me`);
      assert.equal(still.status, 200, `the admin's session on pc3: ${show(still)}`);
    });

    // ------------------------------------------------------------------------------------------
    await step(t, "d. failures spread over the instances lock the account once", async () => {
      const guesser = new Client();
      // One CSRF token, issued by pc1, accepted by all three (shared secrets.csrf_key).
      await guesser.fetchCsrf(one.url);
      for (let n = 0; n < LOCK_AFTER; n++) {
        const instance = instances[n % instances.length];
        const res = await guesser.post(`${instance.url}/api/login`, {
          json: { username: CAROL.username, password: `wrong-guess-${n}` },
          headers: guesser.csrfHeaders(),
        });
        assert.equal(res.status, 401, `wrong password #${n + 1} on ${label(instance.hostPort)}: ${show(res)}`);
        assert.deepEqual(res.body, { login: false });
      }
      // One failure per instance: counted per instance, none would be locked and the right
      // password would log in. Shared, the account is locked everywhere.
      for (const instance of instances) {
        const res = await guesser.post(`${instance.url}/api/login`, {
          json: CAROL,
          headers: guesser.csrfHeaders(),
        });
        assert.ok(isProblem(res, 423, "account_locked"), `right password on ${label(instance.hostPort)}: ${show(res)}`);
        assert.ok(res.body.retry_after > 0, `retry_after: ${show(res)}`);
      }
    });

    // ------------------------------------------------------------------------------------------
    await step(t, "e. refresh rotated on instance 2, replayed on instance 3: the family dies", async () => {
      const tokenClient = new Client();
      const login = await tokenClient.post(`${one.url}/auth/login`, { json: DAVE });
      assert.equal(login.status, 200, `token login on pc1: ${show(login)}`);
      const oldRefresh = tokenClient.jar.get("refresh_token_cookie");
      const csrf = tokenClient.jar.get("csrf_refresh_token");
      assert.ok(oldRefresh && csrf, `refresh and CSRF cookies: ${[...tokenClient.jar.keys()]}`);
      const refreshWith = (instance, token) =>
        new Client().post(`${instance.url}/auth/refresh`, {
          cookies: `refresh_token_cookie=${token}; csrf_refresh_token=${csrf}`,
          headers: { "x-csrf-token": csrf },
        });
      const cookieOf = (res, name) =>
        res.headers
          .getSetCookie()
          .map((c) => c.split(";")[0])
          .find((c) => c.startsWith(`${name}=`))
          ?.slice(name.length + 1);

      const rotated = await refreshWith(two, oldRefresh);
      const rotatedAt = performance.now();
      assert.equal(rotated.status, 200, `refresh on pc2: ${show(rotated)}`);
      const newRefresh = cookieOf(rotated, "refresh_token_cookie");
      const newAccess = rotated.body.access_token;
      assert.ok(newRefresh && newRefresh !== oldRefresh, "rotation hands out a new refresh token");

      // Within the grace window another instance gives the same new token (two tabs at once).
      const twin = await refreshWith(three, oldRefresh);
      assert.ok(performance.now() - rotatedAt < REFRESH_GRACE_S * 1000, "the twin refresh was within the grace window");
      assert.equal(twin.status, 200, `the old token within the grace window on pc3: ${show(twin)}`);
      assert.equal(cookieOf(twin, "refresh_token_cookie"), newRefresh, "the same next refresh token");

      // Every instance knows the new access token (and caches its family).
      const bearer = { authorization: `Bearer ${newAccess}` };
      for (const res of await onEach("/api/me", { headers: bearer, cookies: "" })) {
        assert.equal(res.status, 200, `the new access token: ${show(res)}`);
        assert.equal(res.body.username, DAVE.username);
      }

      // Past the grace window, the old token is a replay. The rotation time is stored in whole
      // seconds and the window judged in whole seconds, so it lasts at least REFRESH_GRACE_S and
      // less than one second more: wait past its longest.
      await sleep(Math.max(0, (REFRESH_GRACE_S + 1) * 1000 + 300 - (performance.now() - rotatedAt)));
      const since = performance.now();
      const replay = await refreshWith(three, oldRefresh);
      assert.ok(isProblem(replay, 401, "refresh_reused"), `the old token replayed on pc3: ${show(replay)}`);
      const after = await refreshWith(one, newRefresh);
      assert.equal(after.status, 401, `the new refresh token on pc1 after the reuse: ${show(after)}`);
      assert.ok(/^token_(revoked|expired|invalid)$|^refresh_reused$/.test(after.body?.code), show(after));
      const seen = await Promise.all(
        instances.map((i) =>
          until(
            `the family's access token refused on ${label(i.hostPort)}`,
            () => new Client().get(`${i.url}/api/me`, { headers: bearer, cookies: "", keep: false }),
            (res) => res.status === 401,
            { timeout: FANOUT_DEADLINE_MS, since },
          ),
        ),
      );
      t.diagnostic(
        `e: new refresh token on pc1 → ${after.body.code}; access token refused after ` +
          seen.map((s, i) => `pc${i + 1} ${Math.round(s.ms)} ms (${s.answer.body?.code})`).join(", "),
      );
    });

    // ------------------------------------------------------------------------------------------
    await step(t, "f. Redis down: every instance fails closed, then recovers by itself", async () => {
      const web = new Client();
      const login = await web.login(site, ALICE);
      assert.equal(login.status, 200, `login through nginx: ${show(login)}`);
      const session = `portcullis_session=${web.jar.get("portcullis_session")}`;
      for (const res of await onEach("/api/me", { cookies: session })) {
        assert.equal(res.status, 200, `warming: ${show(res)}`);
      }
      // A second browser with its CSRF token ready, to try logging in during the outage.
      const newcomer = new Client();
      await newcomer.fetchCsrf(one.url);

      const down = performance.now();
      await redis.stop();
      const refused = await Promise.all(
        instances.map((i) =>
          until(
            `the session answered 503 on ${label(i.hostPort)}`,
            () => new Client().get(`${i.url}/api/me`, { cookies: session, keep: false }),
            (res) => res.status === 503,
            { timeout: 3_000, since: down },
          ),
        ),
      );
      for (const { answer } of refused) {
        assert.ok(isProblem(answer, 503, "unavailable"), `503 problem+json unavailable: ${show(answer)}`);
      }
      for (const [n, res] of (await onEach("/readyz")).entries()) {
        assert.equal(res.status, 503, `/readyz on pc${n + 1} with Redis down: ${show(res)}`);
      }
      for (const instance of instances) {
        const res = await newcomer.post(`${instance.url}/api/login`, { json: ALICE, headers: newcomer.csrfHeaders() });
        assert.ok(isProblem(res, 503, "unavailable"), `login on ${label(instance.hostPort)} with Redis down: ${show(res)}`);
        const token = await new Client().post(`${instance.url}/auth/login`, { json: DAVE });
        assert.ok(isProblem(token, 503, "unavailable"), `token login on ${label(instance.hostPort)}: ${show(token)}`);
      }
      const viaNginx = await web.get(`${site}/api/me`);
      assert.ok(isProblem(viaNginx, 503, "unavailable"), `through nginx: ${show(viaNginx)}`);
      t.diagnostic(`f: 503 after ${refused.map((s, i) => `pc${i + 1} ${Math.round(s.ms)} ms`).join(", ")}`);

      const up = performance.now();
      await redis.start();
      const back = await Promise.all(
        instances.map((i) =>
          Promise.all([
            until(
              `the session served again on ${label(i.hostPort)}`,
              () => new Client().get(`${i.url}/api/me`, { cookies: session, keep: false }),
              (res) => res.status === 200 && res.body.username === ALICE.username,
              { timeout: 5_000, since: up },
            ),
            until(
              `/readyz 200 again on ${label(i.hostPort)}`,
              () => new Client().get(`${i.url}/readyz`, { keep: false }),
              (res) => res.status === 200,
              { timeout: 5_000, since: up },
            ),
          ]),
        ),
      );
      t.diagnostic(
        `f: back after ${back.map(([s, r], i) => `pc${i + 1} session ${Math.round(s.ms)} ms, readyz ${Math.round(r.ms)} ms`).join("; ")}`,
      );
      // Logins work again, through nginx too.
      const again = await newcomer.login(site, ALICE);
      assert.equal(again.status, 200, `login through nginx after the outage: ${show(again)}`);
    });
  },
  { timeout: 80_000 },
);
