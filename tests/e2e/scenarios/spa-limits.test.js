// The built-in SPA under login limits: a rate limit (429 `rate_limited`) and a lockout (423
// `account_locked`) each show their message with the wait the server sent. Two servers with
// small limits, so that each answer comes after a few attempts.

import assert from "node:assert/strict";

import { ALICE, scenario } from "../lib/harness.js";
import { expectAlert, logIn } from "../lib/spa.js";

const WRONG = { username: ALICE.username, password: "not-the-password" };

/** One login attempt through the form; resolves to the server's answer. */
async function attempt(page, user) {
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/login");
  await logIn(page, user);
  return answer;
}

scenario("spa-limits: rate limit and lockout messages with their wait", async (stack) => {
  const [limited, locking] = await Promise.all([
    // Two attempts per username, then one a minute; lockout out of reach (5 failures).
    stack.portcullis({ name: "limited", config: { limits: { per_user_burst: 2, per_user_per_minute: 1 } } }),
    // The second failure within 10 minutes locks the name for 10 minutes.
    stack.portcullis({ name: "locking", config: { lockout: { windows: [{ failures: 2, within: "10m" }] } } }),
  ]);
  const browser = await stack.browser();
  const page = await stack.newPage(browser);

  await page.goto(`${limited.url}/login`);
  for (let i = 0; i < 2; i++) {
    assert.equal((await attempt(page, WRONG)).status(), 401);
    await expectAlert(page, "Wrong username or password.");
  }
  const refused = await attempt(page, ALICE);
  assert.equal(refused.status(), 429);
  assert.equal((await refused.json()).code, "rate_limited");
  const wait = Number(await refused.headerValue("retry-after"));
  const shown = await expectAlert(page, /^Too many attempts\. Try again in \d+ seconds?\.$/);
  assert.equal(shown, `Too many attempts. Try again in ${wait} second${wait === 1 ? "" : "s"}.`, "the server's wait");

  const other = await stack.newPage(browser);
  await other.goto(`${locking.url}/login`);
  for (let i = 0; i < 2; i++) {
    assert.equal((await attempt(other, WRONG)).status(), 401);
    await expectAlert(other, "Wrong username or password.");
  }
  // Locked now: even the right password is refused, with the lock's length.
  assert.equal((await attempt(other, ALICE)).status(), 423);
  await expectAlert(other, "This account is locked after too many failed attempts. Try again in 10 minutes.");
});
