import { describe, expect, it, vi } from "vitest";

import { ME, SessionServer, json, problem } from "../test/fake-server.js";
import { fakeDocument } from "../test/fake-dom.js";
import { PortcullisError, createClient } from "./index.js";

describe("session mode: where the CSRF token comes from", () => {
  it("auto: uses the page's meta tag when there is one, without asking /api/getcsrf", async () => {
    fakeDocument({ meta: "meta-token" });
    const server = new SessionServer();
    server.acceptedCsrf.add("meta-token");
    const client = createClient({ mode: "session", fetch: server.fetch });

    await client.login("alice", "pw");

    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(0);
    const [login] = server.callsTo("POST", "/api/login");
    expect(login?.headers.get("X-CSRFToken")).toBe("meta-token");
    expect(login?.credentials).toBe("include");
    expect(login?.headers.get("Content-Type")).toBe("application/json");
    expect(JSON.parse(login?.body ?? "")).toEqual({ username: "alice", password: "pw" });
  });

  it("auto: without a document, reads the X-CSRFToken header of GET /api/getcsrf, once", async () => {
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch });

    await client.login("alice", "pw");
    await client.revokeOtherSessions();
    await client.logout();

    const getcsrf = server.callsTo("GET", "/api/getcsrf");
    expect(getcsrf).toHaveLength(1);
    expect(getcsrf[0]?.credentials).toBe("include");
    for (const call of server.calls.filter((c) => c.method === "POST")) {
      expect(call.headers.get("X-CSRFToken")).toBe("csrf-1");
    }
  });

  it("auto: a document without the meta tag falls back to /api/getcsrf", async () => {
    fakeDocument({});
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch });
    expect(await client.csrfToken()).toBe("csrf-1");
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(1);
  });

  it('"getcsrf" ignores the meta tag; "meta" never asks the server', async () => {
    fakeDocument({ meta: "meta-token" });
    const server = new SessionServer();
    const viaHeader = createClient({ mode: "session", fetch: server.fetch, csrf: "getcsrf" });
    expect(await viaHeader.csrfToken()).toBe("csrf-1");

    const viaMeta = createClient({ mode: "session", fetch: server.fetch, csrf: "meta" });
    expect(await viaMeta.csrfToken()).toBe("meta-token");
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(1);
  });

  it('"meta" without a meta tag is an error, not a silent request without a token', async () => {
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch, csrf: "meta" });
    await expect(client.login("alice", "pw")).rejects.toThrow(/meta name="csrf-token"/);
    expect(server.callsTo("POST", "/api/login")).toHaveLength(0);
  });

  it("an injected readMeta replaces the document lookup", async () => {
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch, readMeta: () => "injected" });
    expect(await client.csrfToken()).toBe("injected");
  });

  it("concurrent requests share one /api/getcsrf", async () => {
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch });
    await Promise.all([client.csrfToken(), client.revokeOtherSessions(), client.revokeOtherSessions()]);
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(1);
  });

  it("safe methods carry no CSRF token and fetch none", async () => {
    const server = new SessionServer();
    server.loggedIn = true;
    const client = createClient({ mode: "session", fetch: server.fetch });
    expect(await client.me()).toEqual(ME);
    expect(await client.getSession()).toBe(true);
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(0);
    expect(server.calls.every((c) => !c.headers.has("X-CSRFToken"))).toBe(true);
  });

  it("baseUrl prefixes every path, trailing slash or not", async () => {
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch, baseUrl: "https://auth.example/" });
    await client.login("alice", "pw");
    expect(server.calls.map((c) => c.url)).toEqual([
      "https://auth.example/api/getcsrf",
      "https://auth.example/api/login",
    ]);
  });
});

describe("session mode: csrf_failed", () => {
  it("refetches the token once and retries once (400 on the seed login)", async () => {
    fakeDocument({ meta: "stale-meta" }); // e.g. a cached page: the server no longer takes it
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch });

    expect(await client.login("alice", "pw", { remember: true, next: "/app" })).toEqual({ next: "/app" });

    const logins = server.callsTo("POST", "/api/login");
    expect(logins.map((c) => c.headers.get("X-CSRFToken"))).toEqual(["stale-meta", "csrf-1"]);
    expect(JSON.parse(logins[1]?.body ?? "")).toEqual({ username: "alice", password: "pw", remember: true, next: "/app" });
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(1);
    // The fresh token is cached: the next unsafe request uses it without asking again.
    await client.logout();
    expect(server.callsTo("POST", "/api/logout")[0]?.headers.get("X-CSRFToken")).toBe("csrf-1");
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(1);
  });

  it("never loops: a second csrf_failed is the answer (one refetch, two attempts)", async () => {
    const server = new SessionServer();
    server.acceptIssued = false; // the server refuses every token
    const client = createClient({ mode: "session", fetch: server.fetch });

    const error = await client.login("alice", "pw").catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortcullisError);
    expect((error as PortcullisError).code).toBe("csrf_failed");
    expect((error as PortcullisError).status).toBe(400);
    expect(server.callsTo("POST", "/api/login")).toHaveLength(2);
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(2); // the first token + one refetch
  });

  it("403 csrf_failed on an account route through authFetch: retried once, response returned", async () => {
    const server = new SessionServer();
    server.acceptIssued = false;
    const client = createClient({ mode: "session", fetch: server.fetch });

    const response = await client.authFetch("/api/sessions/revoke-others", { method: "POST" });

    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe("csrf_failed");
    expect(server.callsTo("POST", "/api/sessions/revoke-others")).toHaveLength(2);
  });

  it("a 403 that is not csrf_failed is not retried", async () => {
    const server = new SessionServer();
    server.on("DELETE", "/api/sessions/x", () => problem("forbidden", 403));
    const client = createClient({ mode: "session", fetch: server.fetch });
    await expect(client.revokeSession("x")).rejects.toMatchObject({ code: "forbidden", status: 403 });
    expect(server.callsTo("DELETE", "/api/sessions/x")).toHaveLength(1);
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(1);
  });

  it("concurrent csrf failures share one refetch", async () => {
    fakeDocument({ meta: "stale-meta" });
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch });
    const results = await Promise.all(Array.from({ length: 5 }, () => client.revokeOtherSessions()));
    expect(results).toEqual([2, 2, 2, 2, 2]);
    expect(server.callsTo("GET", "/api/getcsrf")).toHaveLength(1);
    expect(server.callsTo("POST", "/api/sessions/revoke-others")).toHaveLength(10);
  });
});

describe("session mode: high-level methods", () => {
  it("maps the seed's 401 {login:false} to invalid_credentials", async () => {
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch });
    const error = await client.login("alice", "wrong").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortcullisError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: "invalid_credentials", status: 401, body: { login: false } });
    expect(server.callsTo("POST", "/api/login")).toHaveLength(1); // not a CSRF failure: no retry
  });

  it("me() when logged out throws unauthenticated; logout() when logged out too", async () => {
    const server = new SessionServer();
    const client = createClient({ mode: "session", fetch: server.fetch });
    await expect(client.me()).rejects.toMatchObject({ code: "unauthenticated", status: 401 });
    await expect(client.logout()).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("account helpers hit the documented routes", async () => {
    const server = new SessionServer();
    server
      .on("GET", "/api/sessions", () =>
        json({
          sessions: [
            {
              id: "s1",
              kind: "cookie",
              created_at: "t",
              last_seen_at: "t",
              expires_at: "t",
              ip: "127.0.0.1",
              user_agent: "ua",
              remember: false,
              current: true,
            },
          ],
        }),
      )
      .on("DELETE", "/api/sessions/a%2Fb", () => json({ revoked: 1 }))
      .on("POST", "/api/password", () => json({ password_changed: true, revoked: 3 }))
      .on("POST", "/api/reauth", () => json({ fresh_until: "2030-01-01T00:00:00Z" }));
    const client = createClient({ mode: "session", fetch: server.fetch });

    const sessions = await client.sessions();
    expect(sessions[0]?.current).toBe(true);
    await client.revokeSession("a/b");
    expect(await client.revokeOtherSessions()).toBe(2);
    expect(await client.changePassword("old", "new-password")).toEqual({ password_changed: true, revoked: 3 });
    expect(JSON.parse(server.callsTo("POST", "/api/password")[0]?.body ?? "")).toEqual({
      current_password: "old",
      new_password: "new-password",
    });
    expect(await client.reauth("pw")).toEqual({ fresh_until: "2030-01-01T00:00:00Z" });
    expect(JSON.parse(server.callsTo("POST", "/api/reauth")[0]?.body ?? "")).toEqual({ password: "pw" });
    for (const call of server.calls.filter((c) => c.method !== "GET")) {
      expect(call.headers.get("X-CSRFToken")).toBe("csrf-1");
    }
  });

  it("token-mode-only methods refuse in session mode", async () => {
    const client = createClient({ mode: "session", fetch: new SessionServer().fetch });
    await expect(client.refresh()).rejects.toThrow(TypeError);
    expect(client.accessToken()).toBeNull();
  });

  it("defaults to globalThis.fetch, looked up at call time", async () => {
    const server = new SessionServer();
    server.loggedIn = true;
    const client = createClient({ mode: "session" });
    const spy = vi.fn(server.fetch);
    vi.stubGlobal("fetch", spy);
    expect(await client.getSession()).toBe(true);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});
