// Deploy mode A with a directory: Portcullis serves the classic tutorial's same-domain frontend
// (tests/e2e/pages/seed, unchanged) as `spa.dir`. The page does not read the meta tag that
// Portcullis fills in; it fetches its token from /api/getcsrf, and that works as well.

import assert from "node:assert/strict";

import { PAGES, cookie, scenario } from "../lib/harness.js";
import { seedRound } from "../lib/seed.js";
import path from "node:path";

scenario("mode-a-seed: the seed page served by Portcullis as spa.dir", async (stack) => {
  const api = await stack.portcullis({ config: { spa: { dir: path.join(PAGES, "seed") } } });
  const browser = await stack.browser();
  const page = await stack.newPage(browser);

  // The page as served: Portcullis inserted the CSRF meta tag and sent its strict CSP.
  // Fetched beside the page, not loaded in it: the round below must see only its own calls.
  const index = await page.request.get(`${api.url}/`);
  assert.match(await index.text(), /<meta name="csrf-token" content="[^"{]{20,}">/);
  assert.match(index.headers()["content-security-policy"] || "", /script-src 'self'/);

  await seedRound(page, `${api.url}/`);

  // A client-side route falls back to index.html and the page works there too.
  await seedRound(page, `${api.url}/some/client/route`);

  const csrf = await cookie(page, api.url, "portcullis_csrf");
  assert.ok(csrf?.httpOnly, "the CSRF nonce cookie is HttpOnly");
});
