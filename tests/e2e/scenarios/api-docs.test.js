// The API reference at /docs (Swagger UI, vendored into the binary) in headless Chromium with
// every request to anywhere but the server refused: it renders from the server alone, under the
// server's CSP without a violation, reads the server's /openapi.json, and lists the login
// operation.

import assert from "node:assert/strict";

import { expectVisible, scenario, screenshot } from "../lib/harness.js";
import { assertNoCspViolations } from "../lib/spa.js";

scenario("api-docs: /docs renders offline under the CSP and lists /api/login", async (stack) => {
  const api = await stack.portcullis({ users: [] });
  const origin = new URL(api.url).origin;
  const browser = await stack.browser();
  const page = await stack.newPage(browser, { viewport: { width: 1100, height: 800 } });

  // The network is the server and nothing else: anything else is refused and remembered.
  const elsewhere = [];
  await page.context().route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    elsewhere.push(`${route.request().method()} ${url}`);
    return route.abort("blockedbyclient");
  });
  // CSP violations as the page sees them (the console lines are checked too, below).
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  const documents = [];
  page.on("response", (res) => {
    if (new URL(res.url()).pathname === "/openapi.json") documents.push(res.status());
  });

  const response = await page.goto(`${api.url}/docs`);
  assert.equal(response.status(), 200, "GET /docs");
  const csp = response.headers()["content-security-policy"] || "";
  assert.match(csp, /script-src/, `/docs is served with a CSP that restricts scripts: ${csp}`);

  // Swagger UI renders the operations of the document it fetched from this server.
  const login = page.locator(".opblock-summary-path", { hasText: /^\/api\/login$/ }).first();
  await expectVisible(login, 20_000);
  const block = page.locator(".opblock", { has: login }).first();
  assert.match((await block.locator(".opblock-summary-method").textContent()).trim(), /^POST$/i);
  assert.ok(documents.includes(200), `the page read /openapi.json from the server (${documents.join(", ") || "never"})`);
  assert.ok((await page.locator(".opblock").count()) > 10, "the reference lists the API's operations");
  assert.equal(await page.locator(".errors-wrapper, .loading-container .errors").count(), 0, "no Swagger UI error box");

  await screenshot(page, "api-docs");

  assert.deepEqual(elsewhere, [], "the page asked for nothing but the server");
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], "no securitypolicyviolation event");
  assertNoCspViolations(stack);
  const errors = stack.console.filter((line) => /^\[(error|pageerror)\]/.test(line));
  assert.deepEqual(errors, [], "no error in the browser console");
});
