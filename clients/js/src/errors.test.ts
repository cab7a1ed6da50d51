import { describe, expect, expectTypeOf, it } from "vitest";

import { SessionServer, json, problem } from "../test/fake-server.js";
import {
  ERROR_CODES,
  PortcullisError,
  createClient,
  errorFromResponse,
  isPortcullisError,
  parseRetryAfter,
  type PortcullisErrorCode,
} from "./index.js";

describe("problem+json → PortcullisError", () => {
  it("reads every RFC 9457 member and the Portcullis code", async () => {
    const error = await errorFromResponse(
      problem("validation_failed", 422, {
        title: "Unprocessable Entity",
        detail: "2 invalid fields",
        errors: [
          { field: "username", message: "required" },
          { field: "password", message: "too short" },
        ],
      }),
    );
    expect(error).toBeInstanceOf(PortcullisError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("PortcullisError");
    expect(error.message).toBe("2 invalid fields");
    expect(error).toMatchObject({
      type: "https://portcullis.dev/problems/validation_failed",
      title: "Unprocessable Entity",
      status: 422,
      detail: "2 invalid fields",
      code: "validation_failed",
      errors: [
        { field: "username", message: "required" },
        { field: "password", message: "too short" },
      ],
    });
    expect(error.retryAfter).toBeUndefined();
  });

  it("retryAfter comes from the body's retry_after first", async () => {
    const error = await errorFromResponse(problem("account_locked", 423, { retry_after: 600 }, { "Retry-After": "5" }));
    expect(error.code).toBe("account_locked");
    expect(error.retryAfter).toBe(600);
  });

  it("retryAfter falls back to the Retry-After header (seconds or HTTP date)", async () => {
    const seconds = await errorFromResponse(problem("rate_limited", 429, {}, { "Retry-After": "42" }));
    expect(seconds).toMatchObject({ code: "rate_limited", status: 429, retryAfter: 42 });

    const now = Date.parse("2030-01-01T00:00:00Z");
    expect(parseRetryAfter("Tue, 01 Jan 2030 00:01:30 GMT", now)).toBe(90);
    expect(parseRetryAfter("Mon, 31 Dec 2029 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it("the high-level methods throw it with retryAfter (429 at login)", async () => {
    const server = new SessionServer();
    server.on("POST", "/api/login", () => problem("rate_limited", 429, { retry_after: 12 }, { "Retry-After": "12" }));
    const client = createClient({ mode: "session", fetch: server.fetch });
    const error = await client.login("alice", "pw").catch((e: unknown) => e);
    expect(isPortcullisError(error, "rate_limited")).toBe(true);
    expect((error as PortcullisError).retryAfter).toBe(12);
  });

  it("maps the seed login's 401 {login:false} to invalid_credentials", async () => {
    const error = await errorFromResponse(json({ login: false }, 401));
    expect(error).toMatchObject({
      code: "invalid_credentials",
      status: 401,
      type: "https://portcullis.dev/problems/invalid_credentials",
      detail: "wrong username or password",
    });
  });

  it("keeps mfa_token of an mfa_required answer", async () => {
    const error = await errorFromResponse(problem("mfa_required", 401, { mfa_token: "mfa-123" }));
    expect(error).toMatchObject({ code: "mfa_required", mfaToken: "mfa-123" });
  });

  it("answers that are not problems get a code from their status", async () => {
    const notJson = await errorFromResponse(new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    expect(notJson).toMatchObject({ code: "unknown", status: 502, title: "Bad Gateway" });
    const empty = await errorFromResponse(new Response(null, { status: 404 }));
    expect(empty).toMatchObject({ code: "not_found", status: 404 });
    const internal = await errorFromResponse(problem("internal", 500));
    expect(internal.code).toBe("internal");
    const unknownCode = await errorFromResponse(problem("brand_new_code", 409));
    expect(unknownCode.code).toBe("conflict");
    expect((unknownCode.body as { code: string }).code).toBe("brand_new_code");
  });

  it("isPortcullisError narrows, optionally by code", () => {
    const error = new PortcullisError({ type: "t", title: "x", status: 401, detail: "d", code: "token_expired" });
    expect(isPortcullisError(error)).toBe(true);
    expect(isPortcullisError(error, "token_expired")).toBe(true);
    expect(isPortcullisError(error, "forbidden")).toBe(false);
    expect(isPortcullisError(new Error("x"))).toBe(false);
  });

  it("the codes are a string-literal union covering the contract", () => {
    expectTypeOf<"refresh_reused">().toExtend<PortcullisErrorCode>();
    expectTypeOf<PortcullisError["code"]>().toEqualTypeOf<PortcullisErrorCode>();
    for (const code of [
      "unauthenticated",
      "invalid_credentials",
      "csrf_failed",
      "forbidden",
      "fresh_login_required",
      "mfa_required",
      "token_expired",
      "token_invalid",
      "token_revoked",
      "refresh_reused",
      "rate_limited",
      "account_locked",
      "validation_failed",
      "conflict",
      "not_found",
      "payload_too_large",
      "unavailable",
    ]) {
      expect(ERROR_CODES).toContain(code);
    }
  });
});
