import { describe, expect, it, vi } from "vitest";

import { TokenServer, bearerOf, json, problem } from "../test/fake-server.js";
import { fakeDocument, fakeStorages } from "../test/fake-dom.js";
import { PortcullisError, createClient, type ClientOptions } from "./index.js";

function setup(extra: Partial<ClientOptions> = {}) {
  const server = new TokenServer();
  const onLogout = vi.fn();
  const client = createClient({
    mode: "token",
    fetch: server.fetch,
    onLogout,
    readCookie: (name) => (name === "csrf_refresh_token" ? "csrf-refresh-value" : null),
    ...extra,
  });
  return { server, client, onLogout };
}

describe("token mode: login, refresh, logout", () => {
  it("login posts to /auth/login without CSRF, with credentials, and keeps the token", async () => {
    const { server, client } = setup();
    expect(await client.login("alice", "pw")).toEqual({});
    const [call] = server.callsTo("POST", "/auth/login");
    expect(call?.credentials).toBe("include");
    expect(call?.headers.has("X-CSRFToken")).toBe(false);
    expect(call?.headers.has("X-CSRF-TOKEN")).toBe(false);
    expect(JSON.parse(call?.body ?? "")).toEqual({ username: "alice", password: "pw" });
    expect(client.accessToken()).toBe("at-1");

    const response = await client.authFetch("/api/data");
    expect(response.status).toBe(200);
    expect(bearerOf(server.callsTo("GET", "/api/data")[0]!)).toBe("at-1");
  });

  it("a wrong password is a typed invalid_credentials error and stores nothing", async () => {
    const { client } = setup();
    await expect(client.login("alice", "nope")).rejects.toMatchObject({ code: "invalid_credentials", status: 401 });
    expect(client.accessToken()).toBeNull();
  });

  it("refresh sends the csrf_refresh_token double-submit value and stores the new token", async () => {
    const { server, client } = setup();
    await client.login("alice", "pw");
    expect(await client.refresh()).toBe("at-2");
    const [call] = server.callsTo("POST", "/auth/refresh");
    expect(call?.headers.get("X-CSRF-TOKEN")).toBe("csrf-refresh-value");
    expect(call?.credentials).toBe("include");
    expect(client.accessToken()).toBe("at-2");
  });

  it("reads csrf_refresh_token from document.cookie by default", async () => {
    fakeDocument({ cookie: "theme=dark; csrf_refresh_token=from-document; other=1" });
    const server = new TokenServer();
    const client = createClient({ mode: "token", fetch: server.fetch });
    await client.refresh();
    expect(server.callsTo("POST", "/auth/refresh")[0]?.headers.get("X-CSRF-TOKEN")).toBe("from-document");
  });

  it("logout sends Bearer + double submit, forgets the token, and is not an onLogout event", async () => {
    const { server, client, onLogout } = setup();
    await client.login("alice", "pw");
    await client.logout();
    const [call] = server.callsTo("POST", "/auth/logout");
    expect(bearerOf(call!)).toBe("at-1");
    expect(call?.headers.get("X-CSRF-TOKEN")).toBe("csrf-refresh-value");
    expect(call?.credentials).toBe("include");
    expect(client.accessToken()).toBeNull();
    expect(onLogout).not.toHaveBeenCalled();
  });

  it("logout forgets the token even when the server refuses, and throws the problem", async () => {
    const { server, client } = setup();
    server.on("POST", "/auth/logout", () => problem("unauthenticated", 401));
    await client.login("alice", "pw");
    await expect(client.logout()).rejects.toMatchObject({ code: "unauthenticated" });
    expect(client.accessToken()).toBeNull();
  });

  it("a refused explicit refresh throws, forgets the token, calls onLogout once", async () => {
    const { server, client, onLogout } = setup();
    await client.login("alice", "pw");
    server.refreshFailure = problem("refresh_reused", 401);
    await expect(client.refresh()).rejects.toMatchObject({ code: "refresh_reused", status: 401 });
    expect(client.accessToken()).toBeNull();
    expect(onLogout).toHaveBeenCalledTimes(1);
  });

  it("a rate-limited refresh is not a logout", async () => {
    const { server, client, onLogout } = setup();
    await client.login("alice", "pw");
    server.refreshFailure = problem("rate_limited", 429, { retry_after: 7 }, { "Retry-After": "7" });
    await expect(client.refresh()).rejects.toMatchObject({ code: "rate_limited", retryAfter: 7 });
    expect(onLogout).not.toHaveBeenCalled();
    expect(client.accessToken()).toBe("at-1");
  });

  it("reauth stores the access token it answers", async () => {
    const { server, client } = setup();
    server.on("POST", "/api/reauth", () =>
      json({ fresh_until: "2030-01-01T00:00:00Z", access_token: "at-fresh", token_type: "Bearer", expires_in: 900 }),
    );
    await client.login("alice", "pw");
    expect(await client.reauth("pw")).toEqual({ fresh_until: "2030-01-01T00:00:00Z" });
    expect(bearerOf(server.callsTo("POST", "/api/reauth")[0]!)).toBe("at-1");
    expect(client.accessToken()).toBe("at-fresh");
  });
});

describe("token mode: the access token lives in memory only", () => {
  it("never writes localStorage, sessionStorage or document.cookie", async () => {
    const { local, session } = fakeStorages();
    const { cookieSetter } = fakeDocument({ cookie: "csrf_refresh_token=c1; csrf_access_token=c2" });
    const server = new TokenServer();
    const client = createClient({ mode: "token", fetch: server.fetch });

    await client.login("alice", "pw");
    await client.authFetch("/api/data");
    server.expireAll();
    await client.authFetch("/api/data", { method: "POST", body: "x" }); // 401 → refresh → retry
    await client.refresh();
    await client.logout();

    for (const storage of [local, session]) {
      expect(storage.setItem).not.toHaveBeenCalled();
      expect(storage.removeItem).not.toHaveBeenCalled();
      expect(storage.clear).not.toHaveBeenCalled();
    }
    expect(cookieSetter).not.toHaveBeenCalled();
    expect(server.issued).toBe(3);
    // Nor is it reachable as a property of the client.
    expect(JSON.stringify(client)).not.toMatch(/at-\d/);
    expect(Object.values(client).filter((v) => typeof v === "string")).toEqual(["token"]);
  });
});

describe("token mode: authFetch and the single-flight refresh", () => {
  it("20 concurrent 401s make exactly one /auth/refresh; all 20 retry with the new token", async () => {
    const { server, client, onLogout } = setup();
    await client.login("alice", "pw");
    server.expireAll();
    // Spread the 401s out in time: some arrive while the refresh is in flight, some after.
    server.dataDelay = (i) => (i < 20 ? i % 10 : 0);

    const responses = await Promise.all(Array.from({ length: 20 }, () => client.authFetch("/api/data")));

    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(1);
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as { token: string }[];
    expect(new Set(bodies.map((b) => b.token))).toEqual(new Set(["at-2"]));
    const data = server.callsTo("GET", "/api/data");
    expect(data).toHaveLength(40); // each request: one 401, one retry
    expect(data.filter((c) => bearerOf(c) === "at-1")).toHaveLength(20);
    expect(data.filter((c) => bearerOf(c) === "at-2")).toHaveLength(20);
    expect(onLogout).not.toHaveBeenCalled();
  });

  it("requests started during a refresh wait for it and send the new token", async () => {
    const { server, client } = setup();
    await client.login("alice", "pw");
    server.expireAll();
    server.refreshDelayMs = 50;
    const first = client.authFetch("/api/data");
    await vi.waitFor(() => expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(1), { interval: 1 });
    expect(client.accessToken()).toBe("at-1"); // still in flight
    const second = client.authFetch("/api/data");
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(1);
    expect(server.callsTo("GET", "/api/data").map(bearerOf)).toEqual(["at-1", "at-2", "at-2"]);
  });

  it("concurrent explicit refresh() calls and authFetch 401s share one /auth/refresh", async () => {
    const { server, client } = setup();
    await client.login("alice", "pw");
    server.expireAll();
    const results = await Promise.all([client.refresh(), client.authFetch("/api/data"), client.refresh()]);
    expect(results[0]).toBe("at-2");
    expect(results[2]).toBe("at-2");
    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(1);
    expect(client.accessToken()).toBe("at-2");
  });

  it("a refused refresh: onLogout once, every caller gets its original 401, nothing loops", async () => {
    const { server, client, onLogout } = setup();
    await client.login("alice", "pw");
    server.expireAll();
    server.refreshFailure = () => problem("refresh_reused", 401);
    server.dataDelay = (i) => i % 10;

    const responses = await Promise.all(Array.from({ length: 20 }, () => client.authFetch("/api/data")));

    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(1);
    expect(onLogout).toHaveBeenCalledTimes(1);
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(401));
    const codes = (await Promise.all(responses.map((r) => r.json()))) as { code: string }[];
    expect(new Set(codes.map((c) => c.code))).toEqual(new Set(["token_expired"]));
    expect(server.callsTo("GET", "/api/data")).toHaveLength(20); // no retry without a token
    expect(client.accessToken()).toBeNull();
  });

  it("token_revoked on refresh is a logout too; a later request may try again, once", async () => {
    const { server, client, onLogout } = setup();
    await client.login("alice", "pw");
    server.expireAll();
    server.refreshFailure = problem("token_revoked", 401);
    expect((await client.authFetch("/api/data")).status).toBe(401);
    expect(onLogout).toHaveBeenCalledTimes(1);
    // A new request (e.g. the user came back) gets one refresh attempt of its own, no more.
    expect((await client.authFetch("/api/data")).status).toBe(401);
    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(2);
    expect(onLogout).toHaveBeenCalledTimes(2);
  });

  it("the retry is single: a 401 after a successful refresh is returned", async () => {
    const { server, client } = setup();
    await client.login("alice", "pw");
    server.on("GET", "/api/data", () => problem("token_invalid", 401));
    const response = await client.authFetch("/api/data");
    expect(response.status).toBe(401);
    expect(server.callsTo("GET", "/api/data")).toHaveLength(2);
    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(1);
  });

  it("fresh_login_required is not cured by a refresh", async () => {
    const { server, client } = setup();
    await client.login("alice", "pw");
    server.on("POST", "/api/password", () => problem("fresh_login_required", 401));
    const error = await client.changePassword("a", "b").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortcullisError);
    expect((error as PortcullisError).code).toBe("fresh_login_required");
    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(0);
  });

  it("a wrong password at reauth does not refresh", async () => {
    const { server, client } = setup();
    await client.login("alice", "pw");
    server.on("POST", "/api/reauth", () => problem("invalid_credentials", 401));
    await expect(client.reauth("bad")).rejects.toMatchObject({ code: "invalid_credentials" });
    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(0);
    expect(client.accessToken()).toBe("at-1");
  });

  it("after a reload (no token in memory): 401 → refresh from the cookie → retry", async () => {
    const { server, client } = setup();
    server.issue(); // at-1, held by the refresh cookie's family in real life
    server.expireAll();
    const response = await client.authFetch("/api/data");
    expect(response.status).toBe(200);
    expect(server.callsTo("GET", "/api/data").map(bearerOf)).toEqual([null, "at-2"]);
  });

  it("without a token, unsafe requests carry the csrf_access_token double submit", async () => {
    const { server, client } = setup({
      readCookie: (name) => (name === "csrf_access_token" ? "csrf-access-value" : null),
    });
    server.on("POST", "/api/things", () => json({ ok: true }));
    await client.authFetch("/api/things", { method: "POST" });
    await client.authFetch("/api/data");
    const [post] = server.callsTo("POST", "/api/things");
    expect(post?.headers.get("X-CSRF-TOKEN")).toBe("csrf-access-value");
    expect(server.callsTo("GET", "/api/data")[0]?.headers.has("X-CSRF-TOKEN")).toBe(false);
  });

  it("retries a Request object with its body and the caller's headers", async () => {
    const { server, client } = setup();
    await client.login("alice", "pw");
    server.expireAll();
    const request = new Request("http://portcullis.test/api/data", {
      method: "POST",
      body: "payload",
      headers: { "X-Custom": "1" },
    });
    const response = await client.authFetch(request);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { body: string }).body).toBe("payload");
    const calls = server.callsTo("POST", "/api/data");
    expect(calls.map((c) => c.headers.get("X-Custom"))).toEqual(["1", "1"]);
    expect(calls.map(bearerOf)).toEqual(["at-1", "at-2"]);
  });

  it("a logout while requests are in flight does not trigger a refresh or onLogout", async () => {
    const { server, client, onLogout } = setup();
    await client.login("alice", "pw");
    server.expireAll();
    server.dataDelay = () => 10;
    const pending = client.authFetch("/api/data");
    await client.logout();
    expect((await pending).status).toBe(401);
    expect(server.callsTo("POST", "/auth/refresh")).toHaveLength(0);
    expect(onLogout).not.toHaveBeenCalled();
  });

  it("an onLogout that throws does not break the callers", async () => {
    const server = new TokenServer();
    server.refreshFailure = problem("refresh_reused", 401);
    const client = createClient({
      mode: "token",
      fetch: server.fetch,
      onLogout: () => {
        throw new Error("app bug");
      },
    });
    const swallowed = new Promise<unknown>((resolve) => {
      const original = globalThis.queueMicrotask;
      vi.stubGlobal("queueMicrotask", (cb: () => void) =>
        original(() => {
          try {
            cb();
          } catch (e) {
            resolve(e);
          }
        }),
      );
    });
    expect((await client.authFetch("/api/data")).status).toBe(401);
    expect(await swallowed).toMatchObject({ message: "app bug" });
  });
});
