// The built-in SPA's admin pages (users, roles, audit log), clicked through in Chromium by an
// admin, and kept from a user without the admin role: no admin navigation, a "Not allowed"
// page, and 403 `forbidden` from the API itself.

import assert from "node:assert/strict";

import { ALICE, expectText, expectVisible, scenario, screenshot } from "../lib/harness.js";
import { apiGet, assertNoCspViolations, expectAlert, expectPage, logInAt, navLink, status } from "../lib/spa.js";

const ROOT = { username: "root", password: "root-password-1234", admin: true };

scenario("spa-admin: admin pages for the admin role only", async (stack) => {
  const api = await stack.portcullis({ users: [ALICE, ROOT] });
  const browser = await stack.browser();

  // --- alice has no admin role: no admin navigation; the page and the API refuse.
  const user = await stack.newPage(browser);
  await logInAt(user, api.url, ALICE);
  assert.equal(await navLink(user, "Users").count(), 0, "no Users link");
  assert.equal(await user.getByRole("list", { name: "Administration" }).count(), 0, "no admin navigation");
  await user.goto(`${api.url}/admin/users`);
  await expectPage(user, "Not allowed");
  for (const path of ["/api/admin/users", "/api/admin/roles", "/api/admin/audit"]) {
    const answer = await apiGet(user, path);
    assert.equal(answer.status, 403, path);
    assert.equal(answer.body.code, "forbidden", path);
  }

  // --- root is an admin: the admin navigation shows.
  const admin = await stack.newPage(browser, { viewport: { width: 1024, height: 640 } });
  await logInAt(admin, api.url, ROOT);
  const adminNav = admin.getByRole("list", { name: "Administration" });
  await expectVisible(adminNav);
  assert.deepEqual(await adminNav.getByRole("link").allTextContents(), ["Users", "Roles", "Audit log"]);

  // --- Roles: create one, then change its permissions.
  await adminNav.getByRole("link", { name: "Roles" }).click();
  await expectPage(admin, "Roles");
  const create = admin.locator("#create-role");
  await create.getByLabel("Name").fill("Bad Name");
  await create.getByRole("button", { name: "Create role" }).click();
  await expectAlert(admin, /fields marked below|may contain only/);
  await create.getByLabel("Name").fill("editor");
  await create.getByLabel("Description (optional)").fill("Writes posts");
  await create.getByLabel("Permissions").fill("posts:read, posts:write");
  await create.getByRole("button", { name: "Create role" }).click();
  await expectText(status(admin), "Created the role editor.");
  const editor = admin.locator('#roles tr[data-role="editor"]');
  assert.equal(await editor.getByRole("textbox", { name: "Permissions of editor" }).inputValue(), "posts:read, posts:write");
  await editor.getByRole("textbox", { name: "Permissions of editor" }).fill("posts:read");
  await editor.getByRole("button", { name: "Save the permissions of editor" }).click();
  await expectText(status(admin), "Saved the permissions of editor.");

  // --- Users: the list, search, create an account with a role.
  await adminNav.getByRole("link", { name: "Users" }).click();
  await expectPage(admin, "Users");
  const rows = admin.locator("#users tbody tr");
  await expectText(admin.locator("#users caption"), "1–2 of 2 accounts");
  await admin.getByLabel("Search by username or email").fill("ali");
  await admin.getByRole("button", { name: "Search" }).click();
  await expectText(admin.locator("#users caption"), "1–1 of 1 account matching “ali”");
  assert.deepEqual(await rows.locator("th").allTextContents(), ["alice"]);
  assert.equal(new URL(admin.url()).search, "?search=ali", "the search is in the address");
  await admin.getByLabel("Search by username or email").fill("");
  await admin.getByRole("button", { name: "Search" }).click();
  await expectText(admin.locator("#users caption"), "1–2 of 2 accounts");

  const form = admin.locator("#create-user");
  await form.getByLabel("Username").fill("erin");
  await form.getByLabel("Email (optional)").fill("erin@example.test");
  await form.getByLabel("Password").fill("erin-password-1");
  await form.getByRole("checkbox", { name: "editor", exact: true }).check();
  await form.getByRole("button", { name: "Create account" }).click();
  await expectText(status(admin), "Created the account erin.");
  await expectText(admin.locator("#users caption"), "1–3 of 3 accounts");
  await expectText(admin.locator('#users tr[data-user="erin"] td').nth(1), "editor");
  await admin.evaluate(() => window.scrollTo(0, 0));
  await screenshot(admin, "spa-admin-users");

  // --- One account: give alice the editor role; she sees it at her next request.
  await admin.locator("#users").getByRole("link", { name: "alice" }).click();
  await expectPage(admin, "alice");
  const edit = admin.locator("#edit-user");
  await edit.getByRole("checkbox", { name: "editor", exact: true }).check();
  await edit.getByRole("button", { name: "Save changes" }).click();
  await expectText(status(admin), "Saved.");
  await user.goto(api.url);
  await expectText(user.locator('#whoami [data-field="roles"]'), "editor");
  await expectText(user.locator('#whoami [data-field="permissions"]'), "posts:read");

  // End all of alice's sessions (after confirming): her browser is logged out.
  await admin.getByRole("button", { name: "End all sessions" }).click();
  const confirm = admin.getByRole("dialog", { name: "End every session of alice?" });
  await expectVisible(confirm);
  await confirm.getByRole("button", { name: "End all sessions" }).click();
  await expectText(status(admin), "Ended 1 session of alice.");
  await user.reload();
  await expectPage(user, "Log in");

  // An admin cannot take away their own admin role (409, in the page's alert).
  await admin.goto(`${api.url}/admin/users`);
  await admin.locator("#users").getByRole("link", { name: "root" }).click();
  await expectPage(admin, "root");
  await admin.locator("#edit-user").getByRole("checkbox", { name: "admin", exact: true }).uncheck();
  await admin.locator("#edit-user").getByRole("button", { name: "Save changes" }).click();
  await expectAlert(admin, "You cannot remove your own admin role; another admin must do it.");

  // Disable erin, then delete her (the confirmation can be cancelled with Escape).
  await admin.goto(`${api.url}/admin/users`);
  await admin.locator("#users").getByRole("link", { name: "erin" }).click();
  await expectPage(admin, "erin");
  await admin.getByLabel("Disabled").check();
  await admin.getByRole("button", { name: "Save changes" }).click();
  await expectText(status(admin), "Saved.");
  await admin.getByRole("button", { name: "Delete account" }).click();
  await expectVisible(admin.getByRole("dialog", { name: "Delete erin?" }));
  await admin.keyboard.press("Escape");
  await expectPage(admin, "erin");
  await admin.getByRole("button", { name: "Delete account" }).click();
  await admin.getByRole("dialog", { name: "Delete erin?" }).getByRole("button", { name: "Delete account" }).click();
  await expectPage(admin, "Users");
  await expectText(admin.locator("#users caption"), "1–2 of 2 accounts");

  // --- Audit log: newest first, filtered by event and by user.
  await adminNav.getByRole("link", { name: "Audit log" }).click();
  await expectPage(admin, "Audit log");
  await expectVisible(admin.locator("#audit tbody tr").first());
  await expectText(admin.locator("#audit tbody tr").first().locator("td").nth(1), "user_deleted");
  await admin.getByLabel("Event").selectOption("role_changed");
  await admin.getByRole("button", { name: "Filter" }).click();
  await admin.waitForURL((url) => url.searchParams.get("event") === "role_changed");
  await expectText(admin.locator("#audit tbody tr td:nth-child(3)").first(), "alice");
  const events = await admin.locator("#audit tbody tr").evaluateAll((trs) => trs.map((tr) => tr.dataset.event));
  assert.deepEqual([...new Set(events)], ["role_changed"], "only role changes");
  await admin.getByLabel("Event").selectOption("");
  await admin.getByLabel("User (name or id)").fill("erin");
  await admin.getByRole("button", { name: "Filter" }).click();
  await admin.waitForURL((url) => url.searchParams.get("user") === "erin");
  await expectText(admin.locator("#audit tbody tr").first().locator("td").nth(1), "user_deleted");
  const users = await admin.locator("#audit tbody tr td:nth-child(3)").allTextContents();
  assert.deepEqual([...new Set(users)], ["erin"], "only erin's events");

  assertNoCspViolations(stack);
});
