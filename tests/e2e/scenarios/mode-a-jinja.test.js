// Deploy mode A with a Flask template: Portcullis serves the classic tutorial's Jinja variant
// (tests/e2e/pages/seed-jinja) from its project folder as it is — `templates/index.html` with
// `{{ csrf_token() }}` and `{{ url_for('static', filename=...) }}`, the built files in `public/`
// — with `spa.template` and `spa.static_dir`. The page reads its token from the meta tag the
// template renders and never calls /api/getcsrf.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { PAGES, cookie, scenario } from "../lib/harness.js";
import { seedRound } from "../lib/seed.js";

scenario("mode-a-jinja: the tutorial's Flask template served by Portcullis", async (stack) => {
  const project = await stack.pages("seed-jinja", {
    // The same component as the same-domain page, and its stand-in stylesheet.
    "public/build/seed.js": await readFile(path.join(PAGES, "seed/build/bundle.js")),
    "public/global.css": await readFile(path.join(PAGES, "seed/global.css")),
    // The Flask app that stays beside its template: never served.
    "app.py": 'app.config.update(SECRET_KEY="secret_sauce")\n',
  });
  const api = await stack.portcullis({
    config: { spa: { dir: project, template: "templates/index.html", static_dir: "public" } },
  });
  const browser = await stack.browser();
  const page = await stack.newPage(browser);

  // The page as served: every url_for() call is a /public URL, the token is in the meta tag.
  // Fetched beside the page, not loaded in it: the round below must see only its own calls.
  const index = await page.request.get(`${api.url}/`);
  const html = await index.text();
  assert.doesNotMatch(html, /\{\{|\{%|url_for/, "nothing of the template is left");
  assert.match(html, /<meta name="csrf-token" content="[A-Za-z0-9_-]{40,}" \/>/);
  for (const file of ["favicon.png", "global.css", "build/bundle.css", "build/bundle.js"]) {
    assert.ok(html.includes(`"/public/${file}"`), `url_for('static', filename='${file}'): ${html}`);
  }
  assert.match(index.headers()["content-security-policy"] || "", /script-src 'self'/);

  // The page's files load: each of them answered 200 from public/.
  const loaded = new Map();
  page.on("response", (r) => {
    const p = new URL(r.url()).pathname;
    if (p.startsWith("/public/")) loaded.set(p, r.status());
  });
  await seedRound(page, `${api.url}/`, { token: "meta" });
  for (const file of ["/public/global.css", "/public/build/bundle.css", "/public/build/bundle.js", "/public/build/seed.js"]) {
    assert.equal(loaded.get(file), 200, `${file}: ${JSON.stringify([...loaded])}`);
  }
  const styled = await page.evaluate(() => getComputedStyle(document.querySelector(".container")).maxWidth);
  assert.equal(styled, "540px", "global.css applies");
  assert.ok(!stack.console.some((line) => /Content Security Policy/i.test(line)), stack.console.join("\n"));

  // A client-side route renders the template too; the app and the template are not files here.
  await seedRound(page, `${api.url}/user`, { token: "meta" });
  for (const hidden of ["/app.py", "/templates/index.html", "/public/missing.js"]) {
    const res = await page.request.get(`${api.url}${hidden}`);
    assert.equal(res.status(), 404, hidden);
    assert.doesNotMatch(await res.text(), /secret_sauce|\{\{/, hidden);
  }

  const session = await cookie(page, api.url, "portcullis_session");
  assert.equal(session, undefined, "logged out at the end");
  const csrf = await cookie(page, api.url, "portcullis_csrf");
  assert.ok(csrf?.httpOnly, "the CSRF nonce cookie is HttpOnly");
});
